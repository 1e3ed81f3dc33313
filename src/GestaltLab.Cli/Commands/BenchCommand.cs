using System.CommandLine;

namespace GestaltLab.Cli;

/// <summary>A benchmark under <c>gestaltlab bench</c> (one class per file under Commands/Bench/).</summary>
internal interface IBenchCommand
{
    /// <summary>Builds the benchmark's command; it prints its figures and the machine it ran on.</summary>
    Command Create();
}

/// <summary>
/// <c>gestaltlab bench …</c>: speed, memory and accuracy figures. Benchmarks are not tests: they print numbers that
/// go into docs/benchmarks.md with the command that produced them; tests never assert a wall-clock time.
/// </summary>
internal sealed class BenchCommand : ICliCommand
{
    public Command Create()
    {
        var bench = new Command("bench", "Benchmarks (speed, memory, accuracy); results belong in docs/benchmarks.md.");
        var subs = typeof(BenchCommand).Assembly.GetTypes()
            .Where(t => typeof(IBenchCommand).IsAssignableFrom(t) && t is { IsAbstract: false, IsInterface: false })
            .Select(t => ((IBenchCommand)Activator.CreateInstance(t)!).Create())
            .OrderBy(c => c.Name, StringComparer.Ordinal);
        foreach (var c in subs) bench.Subcommands.Add(c);
        return bench;
    }
}
