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
/// trainings fail with a reused Scalar. The crash itself is a race (a stress loop of the old chain crashed in 5 of 6
/// runs of 30 s); these tests check the two rules that remove it: tensors made outside a dispose scope do not grow with the
/// work done, and library code converts no Scalar implicitly, uses no TorchSharp operator, and calls only TorchSharp
/// members whose source was read and found to make no Scalar or unheld tensor inside.
/// </summary>
public class NativeLifetimeTests
{
    private static long MadeOutsideScopes(Action action)
    {
        var stats = DisposeScopeManager.Statistics.TensorStatistics;   // per thread, and the test runs on one
        // Control: a tensor made here counts, unless a scope left open on this thread would hide everything made after it.
        long control = stats.CreatedOutsideScopeCount;
        torch.zeros(1).Dispose();
        Assert.Equal(control + 1, stats.CreatedOutsideScopeCount);
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
    public void A_net_made_inside_a_callers_scope_keeps_its_weights_when_the_scope_ends()
    {
        // A notebook cell that wraps its work in a scope and loads or trains a model inside it: the scope must not take
        // the net's parameters and buffers with it (state_dict() then silently skips freed tensors, and a save writes none).
        TorchRuntime.EnsureLoaded();
        RegionNet net;
        int expected;
        using (torch.NewDisposeScope())
        {
            net = new RegionNet(ModelFixture.Net(), 4);
            expected = net.state_dict().Count;
        }
        using (net)
        {
            Assert.Equal(expected, net.state_dict().Count);
            using var scope = torch.NewDisposeScope();
            Assert.Equal(new long[] { 2, 4 }, net.forward(torch.rand(2, 3, 32, 32)).shape);
        }
    }

    [Fact]
    public void Training_makes_tensors_outside_a_scope_per_net_not_per_epoch()
    {
        // Every epoch validates, snapshots or checkpoints the net: those tensors must be held (and freed) by a scope.
        // What a training keeps (the net, the optimiser's moments) is made once, so one epoch and three make as many.
        var data = ModelFixture.Data(ModelFixture.Patterns());
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
    public void Library_code_hands_libtorch_nothing_the_gc_can_free()
    {
        var problems = new List<string>();
        int torchUses = 0;
        // The tests too (a crash there sinks the whole run), though only for what is known to make unheld Scalars: their
        // other TorchSharp calls are not held to the reviewed list.
        foreach (var (project, reviewedOnly) in new[] { ("src/GestaltLab", true), ("src/GestaltLab.Cli", true), ("tests/GestaltLab.Tests", false) })
        {
            var (compilation, trees) = Compile(project);
            foreach (var tree in trees)
            {
                var model = compilation.GetSemanticModel(tree);
                foreach (var node in tree.GetRoot().DescendantNodes())
                {
                    // Calls, constructions and indexers by their node; properties by their name (a method's name would count twice).
                    var symbol = node is InvocationExpressionSyntax or BaseObjectCreationExpressionSyntax or ElementAccessExpressionSyntax or SimpleNameSyntax
                        ? model.GetSymbolInfo(node).Symbol : null;
                    var member = symbol is not null && InTorchSharp(symbol) && (node is not SimpleNameSyntax || symbol is IPropertySymbol) ? symbol : null;
                    if (member is not null && reviewedOnly) torchUses++;
                    string? problem = node switch
                    {
                        // A number (or array) made into a Scalar or a Tensor on the spot: nothing holds it through the call.
                        ExpressionSyntax e when model.GetConversion(e) is { IsUserDefined: true, MethodSymbol: { } op } && InTorchSharp(op)
                                && op.ReturnType.ToDisplayString() is "TorchSharp.Scalar" or "TorchSharp.torch.Tensor"
                            => $"'{e}' becomes a {op.ReturnType.Name} by implicit conversion",
                        ExpressionSyntax e when e is BinaryExpressionSyntax or PrefixUnaryExpressionSyntax or AssignmentExpressionSyntax
                            && model.GetSymbolInfo(e).Symbol is IMethodSymbol { MethodKind: MethodKind.UserDefinedOperator } op2 && InTorchSharp(op2)
                            => $"'{e}' uses a TorchSharp operator (they pass implicit Scalars)",
                        _ when member is not null && !reviewedOnly && MakesScalarInside.Contains(Key(member))
                            => $"'{node}' calls {Key(member)}, which makes a Scalar inside TorchSharp",
                        _ when member is not null && reviewedOnly && Key(member) is var key && !Reviewed.Contains(key)
                                && !(BenchOnly.Contains(key) && tree.FilePath.Contains($"Commands{Path.DirectorySeparatorChar}Bench{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
                            => $"'{node}' calls {key}, which is not among the TorchSharp members checked for Scalars or tensors made inside (read its source, then add it to Reviewed)",
                        _ => null,
                    };
                    if (problem is not null)
                        problems.Add($"{Path.GetRelativePath(TestTemp.RepoFile(""), tree.FilePath)}:{tree.GetLineSpan(node.Span).StartLinePosition.Line + 1}: {problem}");
                }
            }
        }
        // The check saw the code it is about (the library calls TorchSharp a few hundred times), not an empty tree list.
        Assert.True(torchUses > 200, $"only {torchUses} uses of TorchSharp members found in the sources");
        Assert.True(problems.Count == 0, "calls that may hand libtorch something the GC can free mid-call (see GestaltLab.Models.HeldScalars):\n" + string.Join("\n", problems.Distinct()));
    }

    private static bool InTorchSharp(ISymbol s) => s.ContainingNamespace?.ToDisplayString() is { } ns && (ns == "TorchSharp" || ns.StartsWith("TorchSharp.", StringComparison.Ordinal));

    private static string Key(ISymbol s) => (s is IMethodSymbol { ReducedFrom: { } extension } ? extension : s.OriginalDefinition)
        .ToDisplayString(SymbolDisplayFormat.CSharpErrorMessageFormat);

    // The TorchSharp 0.107 members library code calls, each read in TorchSharp's source: none makes a Scalar inside
    // (as add(x) makes its alpha of 1, addcdiv(a, b) its value, square() its exponent, the optimisers their betas) or
    // passes libtorch a tensor it made without holding it. A member not listed fails the test until it has been read
    // the same way; Tensor.add(Tensor, Scalar) is listed, add(Tensor) is not.
    private static readonly HashSet<string> Reviewed = new(StringComparer.Ordinal)
    {
        // Properties: a native read or write on the held receiver (grad returns a new tensor, not held by TorchSharp).
        "TorchSharp.torch.CUDA",
        "TorchSharp.torch.Tensor.device_type",
        "TorchSharp.torch.Tensor.dtype",
        "TorchSharp.torch.Tensor.grad",
        "TorchSharp.torch.Tensor.requires_grad",
        "TorchSharp.torch.Tensor.shape",
        "TorchSharp.torch.nn.Module.training",
        // Methods and constructors.
        "TorchSharp.ModuleExtensionMethods.to<T>(T, TorchSharp.torch.Device, bool)",
        "TorchSharp.Modules.Linear.forward(TorchSharp.torch.Tensor)",
        "TorchSharp.Modules.Parameter.Parameter(TorchSharp.torch.Tensor, bool)",
        "TorchSharp.Modules.Sequential.forward(TorchSharp.torch.Tensor)",
        "TorchSharp.ScalarExtensionMethods.ToScalar(double)",
        "TorchSharp.ScalarExtensionMethods.ToScalar(float)",
        "TorchSharp.ScalarExtensionMethods.ToScalar(long)",
        "TorchSharp.Utils.TensorAccessor<T>.ToArray()",
        "TorchSharp.torch.InitializeDeviceType(TorchSharp.DeviceType)",
        "TorchSharp.torch.NewDisposeScope()",
        "TorchSharp.torch.Tensor.DetachFromDisposeScope()",
        "TorchSharp.torch.Tensor.Dispose()",
        "TorchSharp.torch.Tensor.MoveToOuterDisposeScope()",
        "TorchSharp.torch.Tensor.add(TorchSharp.torch.Tensor, TorchSharp.Scalar)",
        "TorchSharp.torch.Tensor.add_(TorchSharp.Scalar, TorchSharp.Scalar)",
        "TorchSharp.torch.Tensor.add_(TorchSharp.torch.Tensor, TorchSharp.Scalar)",
        "TorchSharp.torch.Tensor.addcdiv_(TorchSharp.torch.Tensor, TorchSharp.torch.Tensor, TorchSharp.Scalar)",
        "TorchSharp.torch.Tensor.addcmul_(TorchSharp.torch.Tensor, TorchSharp.torch.Tensor, TorchSharp.Scalar)",
        "TorchSharp.torch.Tensor.argmax(long, bool)",
        "TorchSharp.torch.Tensor.as_strided(long[], long[], long)",
        "TorchSharp.torch.Tensor.backward()",
        "TorchSharp.torch.Tensor.clamp_min(TorchSharp.Scalar)",
        "TorchSharp.torch.Tensor.clone()",
        "TorchSharp.torch.Tensor.contiguous()",
        "TorchSharp.torch.Tensor.copy_(TorchSharp.torch.Tensor, bool)",
        "TorchSharp.torch.Tensor.cpu()",
        "TorchSharp.torch.Tensor.data<T>()",
        "TorchSharp.torch.Tensor.detach()",
        "TorchSharp.torch.Tensor.dim()",
        "TorchSharp.torch.Tensor.div(TorchSharp.Scalar, TorchSharp.torch.RoundingMode)",
        "TorchSharp.torch.Tensor.div(TorchSharp.torch.Tensor, TorchSharp.torch.RoundingMode)",
        "TorchSharp.torch.Tensor.eq(TorchSharp.torch.Tensor)",
        "TorchSharp.torch.Tensor.flatten(long, long)",
        "TorchSharp.torch.Tensor.flip(params long[])",
        "TorchSharp.torch.Tensor.index_select(long, TorchSharp.torch.Tensor)",
        "TorchSharp.torch.Tensor.item<T>()",
        "TorchSharp.torch.Tensor.matmul(TorchSharp.torch.Tensor)",
        "TorchSharp.torch.Tensor.mean(long[], bool, TorchSharp.torch.ScalarType?)",
        "TorchSharp.torch.Tensor.mul(TorchSharp.Scalar)",
        "TorchSharp.torch.Tensor.mul(TorchSharp.torch.Tensor)",
        "TorchSharp.torch.Tensor.mul_(TorchSharp.Scalar)",
        "TorchSharp.torch.Tensor.mul_(TorchSharp.torch.Tensor)",
        "TorchSharp.torch.Tensor.permute(params long[])",
        "TorchSharp.torch.Tensor.pow_(TorchSharp.Scalar)",
        "TorchSharp.torch.Tensor.reshape(params long[])",
        "TorchSharp.torch.Tensor.sqrt_()",
        "TorchSharp.torch.Tensor.sub(TorchSharp.torch.Tensor)",
        "TorchSharp.torch.Tensor.sum(TorchSharp.torch.ScalarType?)",
        "TorchSharp.torch.Tensor.sum(long, bool, TorchSharp.torch.ScalarType?)",
        "TorchSharp.torch.Tensor.this[params TorchSharp.torch.TensorIndex[]]",
        "TorchSharp.torch.Tensor.to_type(TorchSharp.torch.ScalarType, bool, bool, bool)",
        "TorchSharp.torch.Tensor.trace()",
        "TorchSharp.torch.TensorIndex.Slice(long?, long?, long?)",
        "TorchSharp.torch.cat(System.ReadOnlySpan<TorchSharp.torch.Tensor>, long)",
        "TorchSharp.torch.cuda.device_count()",
        "TorchSharp.torch.cuda.is_available()",
        "TorchSharp.torch.get_num_threads()",
        "TorchSharp.torch.is_grad_enabled()",
        "TorchSharp.torch.manual_seed(long)",
        "TorchSharp.torch.maximum(TorchSharp.torch.Tensor, TorchSharp.torch.Tensor)",
        "TorchSharp.torch.nn.Conv2d(long, long, long, long, long, long, TorchSharp.PaddingModes, long, bool, TorchSharp.torch.Device?, TorchSharp.torch.ScalarType?)",
        "TorchSharp.torch.nn.Linear(long, long, bool, TorchSharp.torch.Device?, TorchSharp.torch.ScalarType?)",
        "TorchSharp.torch.nn.Module.Dispose()",
        "TorchSharp.torch.nn.Module.RegisterComponents()",
        "TorchSharp.torch.nn.Module.buffers(bool, bool)",
        "TorchSharp.torch.nn.Module.eval()",
        "TorchSharp.torch.nn.Module.named_modules()",
        "TorchSharp.torch.nn.Module.named_parameters(bool)",
        "TorchSharp.torch.nn.Module.parameters(bool)",
        "TorchSharp.torch.nn.Module.register_buffer(string, TorchSharp.torch.Tensor, bool)",
        "TorchSharp.torch.nn.Module.register_parameter(string, TorchSharp.Modules.Parameter)",
        "TorchSharp.torch.nn.Module.state_dict(System.Collections.Generic.Dictionary<string, TorchSharp.torch.Tensor>?, string?)",
        "TorchSharp.torch.nn.Module.train(bool)",
        "TorchSharp.torch.nn.Module.zero_grad(bool)",
        "TorchSharp.torch.nn.Module<T, TResult>.forward(T)",
        "TorchSharp.torch.nn.ReLU(bool)",
        "TorchSharp.torch.nn.Sequential(System.Collections.Generic.IEnumerable<(string name, TorchSharp.torch.nn.Module<TorchSharp.torch.Tensor, TorchSharp.torch.Tensor> submodule)>)",
        "TorchSharp.torch.nn.functional.batch_norm(TorchSharp.torch.Tensor, TorchSharp.torch.Tensor?, TorchSharp.torch.Tensor?, TorchSharp.torch.Tensor?, TorchSharp.torch.Tensor?, bool, double, double)",
        "TorchSharp.torch.nn.functional.cross_entropy(TorchSharp.torch.Tensor, TorchSharp.torch.Tensor, TorchSharp.torch.Tensor?, long, TorchSharp.torch.nn.Reduction, double)",
        "TorchSharp.torch.nn.functional.max_pool2d(TorchSharp.torch.Tensor, long, long?, long?, long?, bool)",
        "TorchSharp.torch.nn.functional.relu(TorchSharp.torch.Tensor, bool)",
        "TorchSharp.torch.nn.functional.softmax(TorchSharp.torch.Tensor, long, TorchSharp.torch.ScalarType?)",
        "TorchSharp.torch.no_grad()",
        "TorchSharp.torch.ones(int, TorchSharp.torch.ScalarType?, TorchSharp.torch.Device?, bool, string[]?)",
        "TorchSharp.torch.ones(long, TorchSharp.torch.ScalarType?, TorchSharp.torch.Device?, bool, string[]?)",
        "TorchSharp.torch.rand(int, int, int, int, TorchSharp.torch.ScalarType?, TorchSharp.torch.Device?, bool, TorchSharp.torch.Generator?, string[]?)",
        "TorchSharp.torch.randint(int, int, int[], TorchSharp.torch.ScalarType?, TorchSharp.torch.Device?, bool, TorchSharp.torch.Generator?, string[]?)",
        "TorchSharp.torch.set_num_threads(int)",
        "TorchSharp.torch.stack(System.Collections.Generic.IEnumerable<TorchSharp.torch.Tensor>, long)",
        "TorchSharp.torch.tensor(float[], System.ReadOnlySpan<long>, TorchSharp.torch.ScalarType?, TorchSharp.torch.Device?, bool, string[]?)",
        "TorchSharp.torch.tensor(float[], TorchSharp.torch.ScalarType?, TorchSharp.torch.Device?, bool, string[]?)",
        "TorchSharp.torch.tensor(long, TorchSharp.torch.ScalarType?, TorchSharp.torch.Device?, bool)",
        "TorchSharp.torch.tensor(long[], System.ReadOnlySpan<long>, TorchSharp.torch.ScalarType?, TorchSharp.torch.Device?, bool, string[]?)",
        "TorchSharp.torch.tensor(long[], TorchSharp.torch.ScalarType?, TorchSharp.torch.Device?, bool, string[]?)",
        "TorchSharp.torch.zeros(long, TorchSharp.torch.ScalarType?, TorchSharp.torch.Device?, bool, string[]?)",
        "TorchSharp.torch.zeros_like(TorchSharp.torch.Tensor, TorchSharp.torch.ScalarType?, TorchSharp.torch.Device?, bool, string[]?)",
    };

    // The overloads that forward to another with a literal Scalar (TorchSharp 0.107's Tensor.Math.cs, torch.PointwiseOps.cs).
    private static readonly HashSet<string> MakesScalarInside = new(StringComparer.Ordinal)
    {
        "TorchSharp.torch.Tensor.add(TorchSharp.torch.Tensor)",
        "TorchSharp.torch.Tensor.add(TorchSharp.Scalar)",
        "TorchSharp.torch.Tensor.add_(TorchSharp.torch.Tensor)",
        "TorchSharp.torch.Tensor.add_(TorchSharp.Scalar)",
        "TorchSharp.torch.Tensor.addcdiv(TorchSharp.torch.Tensor, TorchSharp.torch.Tensor)",
        "TorchSharp.torch.Tensor.addcdiv_(TorchSharp.torch.Tensor, TorchSharp.torch.Tensor)",
        "TorchSharp.torch.Tensor.square()",
        "TorchSharp.torch.add(TorchSharp.torch.Tensor, TorchSharp.torch.Tensor)",
        "TorchSharp.torch.add(TorchSharp.torch.Tensor, TorchSharp.Scalar)",
        "TorchSharp.torch.add_(TorchSharp.torch.Tensor, TorchSharp.torch.Tensor)",
        "TorchSharp.torch.add_(TorchSharp.torch.Tensor, TorchSharp.Scalar)",
        "TorchSharp.torch.square(TorchSharp.torch.Tensor)",
    };

    // TorchSharp's own optimiser makes its Scalars implicitly at every step: allowed only where a bench times it beside
    // GestaltLab's (`bench train-throughput --optimizer torch`), never in training.
    private static readonly HashSet<string> BenchOnly = new(StringComparer.Ordinal)
    {
        "TorchSharp.Modules.AdamW.step(System.Func<TorchSharp.torch.Tensor>)",
        "TorchSharp.torch.optim.AdamW(System.Collections.Generic.IEnumerable<TorchSharp.Modules.Parameter>, double, double, double, double, double, bool, bool)",
    };

    private static (CSharpCompilation Compilation, IReadOnlyList<SyntaxTree> Trees) Compile(string project)
    {
        string root = TestTemp.RepoFile(project);
        // As the project builds: its own symbols, its folder and the files it links from elsewhere (build/…).
        var csproj = System.Xml.Linq.XDocument.Load(Path.Combine(root, Path.GetFileName(project) + ".csproj"));
        var symbols = csproj.Descendants("DefineConstants").SelectMany(d => d.Value.Split(';', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            .Where(d => !d.StartsWith('$'));
        var options = new CSharpParseOptions(LanguageVersion.Latest, preprocessorSymbols: symbols);
        string usings = string.Concat(csproj.Descendants("Using").Select(u => (string?)u.Attribute("Include")).OfType<string>().Select(u => $"global using {u}; "));
        var linked = csproj.Descendants("Compile").Select(c => (string?)c.Attribute("Include")).OfType<string>()
            .Select(f => Path.GetFullPath(Path.Combine(root, f)));
        var trees = Directory.EnumerateFiles(root, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}") && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}"))
            .Concat(linked)
            .Select(f => CSharpSyntaxTree.ParseText(File.ReadAllText(f), options, f))
            .Append(CSharpSyntaxTree.ParseText(
                "global using System; global using System.Collections.Generic; global using System.IO; global using System.Linq; " +
                "global using System.Net.Http; global using System.Threading; global using System.Threading.Tasks; " + usings, options, "GlobalUsings.cs"))
            .ToList();
        // References: the framework and every assembly beside the tests except the project's own output.
        string own = Path.GetFileName(project) + ".dll";
        var references = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Concat(Directory.EnumerateFiles(AppContext.BaseDirectory, "*.dll"))
            .Where(f => !string.Equals(Path.GetFileName(f), own, StringComparison.OrdinalIgnoreCase))
            .GroupBy(Path.GetFileName, StringComparer.OrdinalIgnoreCase).Select(g => g.First())
            .Select(f => { try { return MetadataReference.CreateFromFile(f); } catch (BadImageFormatException) { return null; } })
            .OfType<MetadataReference>();
        // Named as the project, so that the assemblies it may see the internals of (InternalsVisibleTo) let it.
        var compilation = CSharpCompilation.Create(Path.GetFileName(project), trees, references,
            new CSharpCompilationOptions(csproj.Descendants("OutputType").Any(o => o.Value == "Exe") ? OutputKind.ConsoleApplication : OutputKind.DynamicallyLinkedLibrary, allowUnsafe: true, nullableContextOptions: NullableContextOptions.Enable));
        // Allowed: the [GeneratedRegex] partial methods' missing (source-generated) bodies, and an obsolete member the
        // compiler resolves differently here; anything else unbound could let a violation hide, so it fails the test.
        var errors = compilation.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error && d.Id is not ("CS8795" or "CS0619")).ToList();
        Assert.True(errors.Count == 0, $"{project} did not compile for the check:\n" + string.Join("\n", errors.Take(10)));
        return (compilation, trees);
    }
}
