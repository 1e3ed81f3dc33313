using System.Globalization;
using System.Text;
using GestaltLab.Runtime;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace GestaltLab.Notebooks;

/// <summary>A variable declared in a notebook's parameters cell.</summary>
/// <param name="Name">The variable name.</param>
/// <param name="Type">Its declared type as written (<c>bool</c>, <c>int</c>, <c>string</c>, …; <c>var</c> is resolved from the literal).</param>
/// <param name="Default">The initializer as written, or null.</param>
/// <param name="Private">Its declaration ends with a comment starting <c>// private</c>: a value given for it (a photo of the
/// user's own) ends up in the outputs, so the run is not saved over the notebook and is written owner-only.</param>
public readonly record struct NotebookParameter(string Name, string Type, string? Default, bool Private = false);

/// <summary>
/// Papermill-style parameters: the first code cell tagged <c>parameters</c> declares them with defaults
/// (<c>bool Quick = false; int Seed = 42;</c>); a run may override them, and the runner then inserts a cell tagged
/// <c>injected-parameters</c> right after it that assigns the new values, so the saved notebook shows what was used.
/// </summary>
public static class NotebookParameters
{
    /// <summary>The tag of the cell that declares parameters.</summary>
    public const string ParametersTag = "parameters";

    /// <summary>The tag of the cell the runner inserts.</summary>
    public const string InjectedTag = "injected-parameters";

    /// <summary>The parameters cell (first code cell tagged <c>parameters</c>), or null.</summary>
    public static NotebookCell? FindParametersCell(Notebook notebook) =>
        notebook.CodeCells.FirstOrDefault(c => c.Tags.Contains(ParametersTag, StringComparer.Ordinal));

    /// <summary>The variables a parameters cell declares, in order.</summary>
    public static IReadOnlyList<NotebookParameter> Declared(string code)
    {
        var tree = CSharpSyntaxTree.ParseText(code, new CSharpParseOptions(kind: SourceCodeKind.Script));
        var result = new List<NotebookParameter>();
        foreach (var node in tree.GetCompilationUnitRoot().Members)
        {
            VariableDeclarationSyntax? declaration = node switch
            {
                FieldDeclarationSyntax f => f.Declaration,
                GlobalStatementSyntax { Statement: LocalDeclarationStatementSyntax l } => l.Declaration,
                _ => null,
            };
            if (declaration is null) continue;
            bool isPrivate = node.GetTrailingTrivia().Any(t => t.IsKind(SyntaxKind.SingleLineCommentTrivia)
                && t.ToString().TrimStart('/', ' ').StartsWith("private", StringComparison.OrdinalIgnoreCase));
            foreach (var v in declaration.Variables)
            {
                string type = declaration.Type.ToString();
                if (type == "var") type = InferType(v.Initializer?.Value) ?? "var";
                result.Add(new NotebookParameter(v.Identifier.Text, type, v.Initializer?.Value.ToString(), isPrivate));
            }
        }
        return result;
    }

    private static string? InferType(ExpressionSyntax? value) => value switch
    {
        LiteralExpressionSyntax l => l.Token.Value switch
        {
            bool => "bool",
            int => "int",
            long => "long",
            double => "double",
            float => "float",
            decimal => "decimal",
            string => "string",
            _ => null,
        },
        PrefixUnaryExpressionSyntax { Operand: var o } => InferType(o),
        _ => null,
    };

    /// <summary>
    /// The code of the injected cell: one assignment per override, each value written as a C# literal of the declared
    /// type (a value of another type, e.g. an enum member, is used as a C# expression).
    /// </summary>
    /// <exception cref="GestaltLabException">A name is not declared in the parameters cell, or a value does not fit its type.</exception>
    public static string InjectedCode(IReadOnlyList<NotebookParameter> declared, IEnumerable<KeyValuePair<string, string>> overrides, string cellLabel)
    {
        var sb = new StringBuilder("// Parameters injected by `gestaltlab notebook run`; the defaults are in the cell above.\n");
        foreach (var (name, value) in overrides)
        {
            var p = declared.FirstOrDefault(d => d.Name == name);
            if (p.Name is null)
                throw new GestaltLabException(
                    $"{cellLabel}: there is no parameter {name} (declared: {(declared.Count == 0 ? "none" : string.Join(", ", declared.Select(d => d.Name)))})",
                    "pass -p NAME=VALUE with a name the parameters cell declares");
            sb.Append(name).Append(" = ").Append(Literal(p, value, cellLabel)).Append(";\n");
        }
        return sb.ToString();
    }

    private static (System.Numerics.BigInteger Min, System.Numerics.BigInteger Max) IntegerRange(string type) => type switch
    {
        "long" or "Int64" => (long.MinValue, long.MaxValue),
        "short" => (short.MinValue, short.MaxValue),
        "byte" => (byte.MinValue, byte.MaxValue),
        "uint" => (uint.MinValue, uint.MaxValue),
        "ulong" => (ulong.MinValue, ulong.MaxValue),
        _ => (int.MinValue, int.MaxValue),
    };

    private static string Example(string type) => type switch
    {
        "bool" or "Boolean" or "System.Boolean" => "true",
        "double" or "Double" or "float" or "Single" or "decimal" or "Decimal" => "0.5",
        "string" or "String" => "text",
        _ => "7",
    };

    private static string DoubleLiteral(double d)
    {
        string r = d.ToString("R", CultureInfo.InvariantCulture);
        return r.Contains('.') || r.Contains('E') ? r : r + ".0";
    }

    private static string Literal(NotebookParameter p, string value, string cellLabel)
    {
        string type = p.Type.TrimEnd('?');
        var inv = CultureInfo.InvariantCulture;
        string Bad(string? why = null) => throw new GestaltLabException($"{cellLabel}: parameter {p.Name} is {p.Type}; \"{value}\" is not a valid {p.Type}{why}",
            $"pass {("aeiouAEIOU".Contains(p.Type[0]) ? "an" : "a")} {p.Type} value, e.g. -p {p.Name}={Example(type)}");
        switch (type)
        {
            case "bool" or "Boolean" or "System.Boolean":
                return bool.TryParse(value, out bool b) ? (b ? "true" : "false") : Bad();
            case "int" or "long" or "short" or "byte" or "uint" or "ulong" or "Int32" or "Int64":
                if (!System.Numerics.BigInteger.TryParse(value, NumberStyles.Integer, inv, out var n)) return Bad();
                // Checked against the declared type's range here: the injected line would otherwise fail to compile
                // ("cannot convert long to int"), which does not say what was wrong.
                var (min, max) = IntegerRange(type);
                return n >= min && n <= max ? n.ToString(inv) : Bad($" (out of range: {min} to {max})");
            case "double" or "Double":
                return double.TryParse(value, NumberStyles.Float, inv, out double d) && double.IsFinite(d) ? DoubleLiteral(d) : Bad();
            case "float" or "Single":
                return float.TryParse(value, NumberStyles.Float, inv, out float f) ? f.ToString("R", inv) + "f" : Bad();
            case "decimal" or "Decimal":
                return decimal.TryParse(value, NumberStyles.Float, inv, out decimal m) ? m.ToString(inv) + "m" : Bad();
            case "string" or "String":
                return SymbolDisplay.FormatLiteral(value, quote: true);
            default:
                return value;
        }
    }
}
