using System.CommandLine;
using GestaltLab.Ensemble;

namespace GestaltLab.Cli;

/// <summary>
/// <c>gestaltlab export-model --run RUN --out DIR</c>: the trained model alone, for sharing — the nets, ensemble, class
/// names, region set and config, without the photos' crops, names, embeddings or paths a run folder holds.
/// </summary>
internal sealed class ExportModelCommand : ICliCommand
{
    public Command Create()
    {
        var run = new Option<string>("--run", "--model") { Description = "A finished run directory.", Required = true };
        var output = new Option<string>("--out") { Description = "New or empty folder for the model (an earlier exported model there is replaced).", Required = true };
        var cmd = new Command("export-model", "Copy a run's trained model without its patient data (aligned crops, photo names, embeddings, paths), for sharing.") { run, output };
        cmd.SetAction(p =>
        {
            var files = ModelPackage.Write(p.GetValue(run)!, p.GetValue(output)!, "gestaltlab export-model");
            foreach (var f in files) Console.WriteLine($"  {Path.Combine(p.GetValue(output)!, f)}");
            Console.WriteLine($"exported the model of {p.GetValue(run)} → {p.GetValue(output)} ({files.Count} files; no photos, crops, photo names, embeddings or paths). " +
                              $"Use it as any run: gestaltlab predict --model {p.GetValue(output)} PHOTO…");
            return 0;
        });
        return cmd;
    }
}
