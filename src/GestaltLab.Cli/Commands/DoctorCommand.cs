using System.CommandLine;
using GestaltLab.Runtime;

namespace GestaltLab.Cli;

/// <summary><c>gestaltlab doctor</c>: one line per part, ✓ or ✗ with the fix; exit 1 when a required part is missing.</summary>
internal sealed class DoctorCommand : ICliCommand
{
    public Command Create()
    {
        var model = new Option<string?>("--model", "--landmark-model") { Description = "Check this dlib shape_predictor_68_face_landmarks.dat instead of the system's." };
        var command = new Command("doctor", "Check that every part GestaltLab needs is installed and working.") { model };
        command.SetAction(parse =>
        {
            var checks = Doctor.Run(new DoctorOptions { DlibModelPath = parse.GetValue(model) });
            foreach (var c in checks)
            {
                string mark = c.Ok ? "✓" : c.Required ? "✗" : "!";
                Console.WriteLine($"{mark} {c.Name}: {c.Detail}");
                if (!c.Ok && c.Fix is not null) Console.WriteLine($"    fix: {c.Fix}");
            }
            bool ok = Doctor.AllRequiredOk(checks);
            Console.WriteLine(ok ? "All required parts are working." : "Some required parts are missing: see the fixes above.");
            return ok ? 0 : 1;
        });
        return command;
    }
}
