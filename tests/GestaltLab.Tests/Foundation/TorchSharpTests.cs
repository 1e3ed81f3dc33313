using GestaltLab.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace GestaltLab.Tests.Foundation;

public class TorchSharpTests
{
    [Fact]
    public void TensorOpsCompute()
    {
        TorchRuntime.EnsureLoaded();
        using var scope = NewDisposeScope();
        var a = tensor(new float[] { 1, 2, 3, 4 }).reshape(2, 2);
        var product = a.matmul(a);
        Assert.Equal(new float[] { 7, 10, 15, 22 }, product.data<float>().ToArray());
    }

    [Fact]
    public void NNPACK_is_switched_off_so_that_libtorch_does_not_warn_on_every_convolution()
    {
        // On a CPU NNPACK does not recognise, libtorch warned "Could not initialize NNPACK!" 56 times for one photo's prediction.
        TorchRuntime.EnsureLoaded();
        Assert.Equal(OperatingSystem.IsLinux() && System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture == System.Runtime.InteropServices.Architecture.X64,
            TorchRuntime.NnpackDisabled);
        // Convolutions of one photo on one thread (the path that consulted NNPACK) still compute.
        using var scope = NewDisposeScope();
        using var threads = TorchRuntime.UseThreads(1);
        var y = nn.functional.conv2d(ones(1, 3, 8, 8), ones(4, 3, 3, 3), padding: [1, 1]);
        Assert.Equal(27f, y[0, 0, 4, 4].item<float>());
    }

    [Fact]
    public void GradientStepLowersTheLoss()
    {
        TorchRuntime.EnsureLoaded();
        using var scope = NewDisposeScope();
        manual_seed(1);
        var x = randn(64, 3);
        var y = x.matmul(tensor(new float[] { 2, -1, 0.5f }).reshape(3, 1));
        var layer = nn.Linear(3, 1);
        var optimizer = optim.SGD(layer.parameters(), 0.1);
        float first = 0, last = 0;
        for (int step = 0; step < 50; step++)
        {
            optimizer.zero_grad();
            var loss = nn.functional.mse_loss(layer.forward(x), y);
            loss.backward();
            optimizer.step();
            if (step == 0) first = loss.item<float>();
            last = loss.item<float>();
        }
        Assert.True(last < first * 0.05, $"loss went from {first} to {last}");
    }

    [Fact]
    public void BuildOutputCopyOfNativeShimHasNoMissingHardVersionRequirement()
    {
        string lib = Directory.EnumerateFiles(AppContext.BaseDirectory, "libLibTorchSharp.so", SearchOption.AllDirectories).Single();
        string? system = ElfVersionNeeds.FindSystemLibStdCxx();
        Assert.NotNull(system);
        var missing = ElfVersionNeeds.MissingHardRequirements(File.ReadAllBytes(lib), lib, "libstdc++.so.6", File.ReadAllBytes(system!));
        Assert.Empty(missing);
    }

    [Fact]
    public void PatchWeakensOnlyMissingVersionsIsIdempotentAndLeavesTheSourceAlone()
    {
        string home = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
                      ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        string original = Path.Combine(home, "torchsharp", "0.107.0", "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        Assert.True(File.Exists(original), $"{original} not found (restore first)");
        string system = ElfVersionNeeds.FindSystemLibStdCxx()!;
        byte[] systemBytes = File.ReadAllBytes(system);
        byte[] before = File.ReadAllBytes(original);
        var needs = ElfVersionNeeds.Read(before, original);
        Assert.Contains(needs, n => n.Library == "libstdc++.so.6" && n.Version == "GLIBCXX_3.4.32" && !n.IsWeak);

        string dir = TestTemp.Dir("gl-elf");
        try
        {
            string copy = Path.Combine(dir, "libLibTorchSharp.so");
            File.Copy(original, copy);
            var first = ElfVersionNeeds.WeakenMissingLibStdCxx(copy, system);
            var expected = ElfVersionNeeds.MissingHardRequirements(before, original, "libstdc++.so.6", systemBytes).Select(n => n.Version).ToList();
            Assert.Equal(expected, first);
            Assert.Empty(ElfVersionNeeds.WeakenMissingLibStdCxx(copy, system)); // second run: nothing to do
            var after = ElfVersionNeeds.Read(File.ReadAllBytes(copy), copy);
            Assert.Equal(needs.Count, after.Count);
            for (int i = 0; i < needs.Count; i++)
                Assert.Equal(needs[i].IsWeak || expected.Contains(needs[i].Version) && needs[i].Library == "libstdc++.so.6", after[i].IsWeak);
            Assert.Equal(before, File.ReadAllBytes(original));
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void ReaderRejectsNonElfWithTheFileName()
    {
        var e = Assert.Throws<InvalidDataException>(() => ElfVersionNeeds.Read(new byte[100], "not-a-library.so"));
        Assert.Contains("not-a-library.so", e.Message);
    }
}
