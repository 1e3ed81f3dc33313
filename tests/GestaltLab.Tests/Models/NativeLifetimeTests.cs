using GestaltLab.Models;
using GestaltLab.Runtime;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using TorchSharp;

namespace GestaltLab.Tests.Models;

/// <summary>
/// TorchSharp hands libtorch raw handles and does not keep the managed Tensor or Scalar alive during the call: one that
/// nothing holds can be finalised by the GC, its native memory freed, while libtorch still reads it. That crashed a
/// notebook (SIGSEGV in libtorch's <c>at::native::to</c>, from a checkpoint's <c>t.detach().cpu()</c>) and, earlier, made
/// trainings fail with a reused Scalar. The crash itself is a race (a stress loop of the old chain crashed within
/// seconds); these tests check the two rules that remove it: tensors made outside a dispose scope do not grow with the
/// work done, and library code converts no Scalar implicitly nor calls an overload that makes one inside TorchSharp.
/// </summary>
public class NativeLifetimeTests
{
    private static long MadeOutsideScopes(Action action)
    {
        var stats = DisposeScopeManager.Statistics.TensorStatistics;   // per thread, and the test runs on one
        long before = stats.CreatedOutsideScopeCount;
        action();
        return stats.CreatedOutsideScopeCount - before;
    }

    [Fact]
    public void Saving_weights_and_exporting_make_no_tensor_outside_a_scope()
    {
        TorchRuntime.EnsureLoaded();
        using var net = new RegionNet(ModelFixture.Net(), 4);
        string file = Path.Combine(ModelFixture.TempDir(), "net.pt");
        Assert.Equal(0, MadeOutsideScopes(() => WeightsFile.Save(file, "{}", net.state_dict())));
        Assert.Equal(0, MadeOutsideScopes(() => OnnxExporter.ExportRegion(net, "face")));
        var (_, loaded) = WeightsFile.Load(file);
        foreach (var t in loaded.Values) t.Dispose();
    }

    [Fact]
    public void Training_makes_tensors_outside_a_scope_per_net_not_per_epoch()
    {
        // Every epoch validates, snapshots or checkpoints the net: those tensors must be held (and freed) by a scope.
        // What a training keeps (the net, the optimiser's moments) is made once, so one epoch and three make as many.
        var s = ModelFixture.Patterns();
        var all = Enumerable.Range(0, s.Count).ToArray();
        var (train, val) = RegionTrainer.SplitByGroup(s, all, 0.25, 3);
        var data = new RegionTrainingData(s, "periorbital_left", train, val, 4);
        foreach (bool checkpoints in new[] { false, true })
        {
            long Count(int epochs) => MadeOutsideScopes(() =>
            {
                string? dir = checkpoints ? ModelFixture.TempDir() : null;
                using var net = RegionTrainer.Train(data, ModelFixture.Net(), ModelFixture.Options(epochs) with { Mixup = 0.2 }, dir).Net;
            });
            long one = Count(1), three = Count(3);
            Assert.True(one == three, $"checkpoints {checkpoints}: {one} tensors made outside a dispose scope in one epoch, {three} in three");
        }
    }

    [Fact]
    public void Library_code_hands_libtorch_no_scalar_the_gc_can_free()
    {
        var problems = new List<string>();
        foreach (string project in new[] { "src/GestaltLab", "src/GestaltLab.Cli" })
        {
            var (compilation, trees) = Compile(project);
            foreach (var tree in trees)
            {
                var model = compilation.GetSemanticModel(tree);
                foreach (var node in tree.GetRoot().DescendantNodes())
                {
                    string? problem = node switch
                    {
                        ExpressionSyntax e when model.GetConversion(e) is { IsUserDefined: true, MethodSymbol: { } op } && IsTorchScalar(op.ContainingType)
                            => $"'{e}' becomes a Scalar by implicit conversion",
                        InvocationExpressionSyntax call when model.GetSymbolInfo(call).Symbol is IMethodSymbol m && MakesScalarInside(m)
                            => $"'{call}' calls {m.ContainingType.Name}.{m.Name}({string.Join(", ", m.Parameters.Select(p => p.Type.Name))}), which makes a Scalar inside TorchSharp",
                        ExpressionSyntax e when e is BinaryExpressionSyntax or PrefixUnaryExpressionSyntax or AssignmentExpressionSyntax
                            && model.GetSymbolInfo(e).Symbol is IMethodSymbol { MethodKind: MethodKind.UserDefinedOperator } op2 && op2.ContainingNamespace.ToDisplayString().StartsWith("TorchSharp", StringComparison.Ordinal)
                            => $"'{e}' uses a TorchSharp operator (they pass implicit Scalars)",
                        _ => null,
                    };
                    if (problem is not null)
                        problems.Add($"{Path.GetRelativePath(TestTemp.RepoFile(""), tree.FilePath)}:{tree.GetLineSpan(node.Span).StartLinePosition.Line + 1}: {problem}");
                }
            }
        }
        Assert.True(problems.Count == 0, "pass a held Scalar instead (GestaltLab.Models.HeldScalars, or a `using` local):\n" + string.Join("\n", problems.Distinct()));
    }

    private static bool IsTorchScalar(ITypeSymbol? type) => type?.ToDisplayString() == "TorchSharp.Scalar";

    // TorchSharp 0.107's overloads that forward to another with a literal Scalar argument (an alpha or value of 1, an
    // exponent of 2), found by reading its Tensor.Math.cs and torch.PointwiseOps.cs.
    private static bool MakesScalarInside(IMethodSymbol m)
    {
        string type = m.ContainingType.ToDisplayString();
        if (type is not ("TorchSharp.torch.Tensor" or "TorchSharp.torch")) return false;
        int tensorArgs = m.Parameters.Length - (m.IsStatic ? 1 : 0);
        return m.Name switch
        {
            "add" or "add_" => tensorArgs == 1,
            "addcdiv" or "addcdiv_" => tensorArgs == 2,
            "square" => true,
            _ => false,
        };
    }

    private static (CSharpCompilation Compilation, IReadOnlyList<SyntaxTree> Trees) Compile(string project)
    {
        string root = TestTemp.RepoFile(project);
        // As the project builds: its own symbols, its folder and the files it links from elsewhere (build/…).
        var csproj = System.Xml.Linq.XDocument.Load(Path.Combine(root, Path.GetFileName(project) + ".csproj"));
        var symbols = csproj.Descendants("DefineConstants").SelectMany(d => d.Value.Split(';', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            .Where(d => !d.StartsWith('$'));
        var options = new CSharpParseOptions(LanguageVersion.Latest, preprocessorSymbols: symbols);
        var linked = csproj.Descendants("Compile").Select(c => (string?)c.Attribute("Include")).OfType<string>()
            .Select(f => Path.GetFullPath(Path.Combine(root, f)));
        var trees = Directory.EnumerateFiles(root, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}") && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}"))
            .Concat(linked)
            .Select(f => CSharpSyntaxTree.ParseText(File.ReadAllText(f), options, f))
            .Append(CSharpSyntaxTree.ParseText(
                "global using System; global using System.Collections.Generic; global using System.IO; global using System.Linq; " +
                "global using System.Net.Http; global using System.Threading; global using System.Threading.Tasks;", options, "GlobalUsings.cs"))
            .ToList();
        // References: the framework and every assembly beside the tests except the project's own output.
        string own = Path.GetFileName(project) + ".dll";
        var references = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Concat(Directory.EnumerateFiles(AppContext.BaseDirectory, "*.dll"))
            .Where(f => !string.Equals(Path.GetFileName(f), own, StringComparison.OrdinalIgnoreCase))
            .GroupBy(Path.GetFileName, StringComparer.OrdinalIgnoreCase).Select(g => g.First())
            .Select(f => { try { return MetadataReference.CreateFromFile(f); } catch (BadImageFormatException) { return null; } })
            .OfType<MetadataReference>();
        var compilation = CSharpCompilation.Create(Path.GetFileName(project) + ".Check", trees, references,
            new CSharpCompilationOptions(csproj.Descendants("OutputType").Any(o => o.Value == "Exe") ? OutputKind.ConsoleApplication : OutputKind.DynamicallyLinkedLibrary, allowUnsafe: true, nullableContextOptions: NullableContextOptions.Enable));
        // Allowed: the [GeneratedRegex] partial methods' missing (source-generated) bodies, and an obsolete member the
        // compiler resolves differently here; anything else unbound could let a violation hide, so it fails the test.
        var errors = compilation.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error && d.Id is not ("CS8795" or "CS0619")).ToList();
        Assert.True(errors.Count == 0, $"{project} did not compile for the check:\n" + string.Join("\n", errors.Take(10)));
        return (compilation, trees);
    }
}
