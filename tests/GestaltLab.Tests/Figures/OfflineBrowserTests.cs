using System.Diagnostics;
using System.Text.RegularExpressions;
using GestaltLab.Figures;

namespace GestaltLab.Tests.Figures;

/// <summary>
/// The browser behind figure export and `doctor` sends nothing over the network: watched from outside, with strace, as
/// a hospital's firewall would see it. (Blocking requests inside the page does not cover the browser's own: Chromium
/// looked up Google hosts at start until its resolver was switched off.)
/// </summary>
public class OfflineBrowserTests
{
    [Fact]
    public async Task Export_and_doctor_open_no_network_connection()
    {
        string strace = new[] { "/usr/bin/strace", "/bin/strace" }.FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException("strace is not installed: run `bash environment/setup.sh --tests` (it installs Debian's strace for this test)");
        string work = TestTemp.Dir("gestaltlab-offline");
        try
        {
            string run = Path.Combine(work, "run");
            SyntheticRun.Write(run, classes: 5);
            string cli = Path.Combine(AppContext.BaseDirectory, "GestaltLab.Cli.dll");
            var traces = new List<string>();
            foreach (var (name, args) in new[]
            {
                ("export", new[] { "export", "--run", run, "--out", Path.Combine(work, "figures"), "--format", "svg", "png" }),
                ("doctor", new[] { "doctor" }),
            })
            {
                string dir = Directory.CreateDirectory(Path.Combine(work, "trace-" + name)).FullName;
                // One file per process (-ff), so no call is split across lines; -yy names each socket's protocol and ends.
                var psi = new ProcessStartInfo(strace) { RedirectStandardOutput = true, RedirectStandardError = true };
                foreach (var a in new[] { "-ff", "-qq", "-yy", "-e", "trace=connect,sendto,sendmsg,sendmmsg", "-o", Path.Combine(dir, "t"), "dotnet", cli })
                    psi.ArgumentList.Add(a);
                foreach (var a in args) psi.ArgumentList.Add(a);
                using var p = Process.Start(psi)!;
                var stderrTask = p.StandardError.ReadToEndAsync();
                string stdout = await p.StandardOutput.ReadToEndAsync();
                await p.WaitForExitAsync();
                string stderr = await stderrTask;
                Assert.True(Directory.GetFiles(dir).Length > 1, $"strace traced no child process of `{name}`: {stderr}");
                if (name == "export") Assert.True(p.ExitCode == 0, $"export failed: {stdout}{stderr}");
                else Assert.Contains("✓ Chromium (headless)", stdout);
                traces.AddRange(Directory.GetFiles(dir).SelectMany(File.ReadAllLines).Select(l => $"{name}: {l}"));
            }
            // A DNS query, a TCP connection, or a datagram sent anywhere. (Connecting a UDP socket sends nothing: Chromium
            // does it to 2001:4860:4860::8888 to learn whether the machine has an IPv6 route, and that is allowed.)
            var network = traces.Where(l => l.Contains("htons(53)")
                || Regex.IsMatch(l, @"connect\(\d+<TCP(v6)?:") && Regex.IsMatch(l, "sa_family=AF_INET6?,")
                || Regex.IsMatch(l, @"send(to|msg|mmsg)\(\d+<(TCP|UDP)(v6)?:")).ToList();
            Assert.True(network.Count == 0, "network traffic:\n" + string.Join("\n", network.Take(10)));
            Assert.True(File.Exists(Path.Combine(work, "figures", "export.json")));
        }
        finally
        {
            try { Directory.Delete(work, true); } catch (IOException) { }
        }
    }
}
