using GestaltLab.Runtime;
using Microsoft.Playwright;

namespace GestaltLab.Figures;

/// <summary>What a page showed when opened in the browser (see <see cref="HeadlessBrowser.CheckPageAsync"/>).</summary>
/// <param name="ChartCount">Chart containers (<c>.gl-chart</c>) on the page.</param>
/// <param name="RenderedCharts">Containers in which plotly.js drew its SVG (<c>.main-svg</c>).</param>
/// <param name="ConsoleErrors">Console errors and uncaught exceptions, in order.</param>
/// <param name="FailedRequests">Requests the page tried to make off the machine (all are blocked).</param>
public sealed record PageCheck(int ChartCount, int RenderedCharts, IReadOnlyList<string> ConsoleErrors, IReadOnlyList<string> FailedRequests)
{
    /// <summary>Every chart rendered, no console error, no attempt to reach the network.</summary>
    public bool Ok => ChartCount == RenderedCharts && ConsoleErrors.Count == 0 && FailedRequests.Count == 0;
}

/// <summary>
/// The system's Chromium driven headless through Microsoft.Playwright (its driver ships inside the NuGet package; no
/// browser is ever downloaded): static figure export and page checks. Launch once and reuse it for many figures.
/// Every request a page makes off the machine is aborted and recorded, so exports cannot phone home.
/// </summary>
public sealed class HeadlessBrowser : IAsyncDisposable
{
    private readonly IPlaywright _playwright;
    private readonly IBrowser _browser;

    private HeadlessBrowser(IPlaywright playwright, IBrowser browser, string executable)
    {
        _playwright = playwright;
        _browser = browser;
        Executable = executable;
    }

    /// <summary>The browser executable in use.</summary>
    public string Executable { get; }

    /// <summary>Whether Chromium runs in its sandbox (not as root, and not where it failed to start in it).</summary>
    public bool Sandboxed { get; private init; }

    /// <summary>Why Chromium runs without its sandbox where it could have had one (it did not start in it), else null: for callers to say.</summary>
    public string? SandboxNote { get; private init; }

    /// <summary>The browser's version (it shapes the bytes of exported figures: fonts, rasterisation).</summary>
    public string Version => _browser.Version;

    /// <summary>
    /// Starts the Chromium found by <see cref="SystemResources.ChromiumExecutable"/> (or <paramref name="executable"/>).
    /// </summary>
    /// <exception cref="GestaltLabException">No browser found, or it failed to start (with the fix).</exception>
    public static async Task<HeadlessBrowser> LaunchAsync(string? executable = null, CancellationToken cancellationToken = default)
    {
        string? named = Environment.GetEnvironmentVariable(SystemResources.ChromiumVariable);
        if (executable is null && !string.IsNullOrEmpty(named) && !File.Exists(named))
            throw new GestaltLabException($"{SystemResources.ChromiumVariable}={named}: no such file",
                $"point {SystemResources.ChromiumVariable} at the browser executable, or unset it to use the system's Chromium");
        string? exe = executable ?? SystemResources.ChromiumExecutable();
        if (exe is null || !File.Exists(exe))
            throw new GestaltLabException(
                exe is null ? "no Chromium browser found for static figure export (looked for /usr/lib/chromium/chromium, /usr/bin/chromium, chromium-browser, google-chrome)"
                            : $"{exe}: browser executable not found",
                $"install Debian package chromium (`bash environment/setup.sh`) or set {SystemResources.ChromiumVariable}=/path/to/chromium");
        cancellationToken.ThrowIfCancellationRequested();
        IPlaywright playwright;
        try
        {
            playwright = await Playwright.CreateAsync();
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            throw new GestaltLabException($"the Playwright driver did not start ({e.Message.Split('\n')[0]})",
                "rebuild so that the .playwright folder (node driver) is copied next to GestaltLab.dll", e);
        }
        // In Chromium's sandbox where it can be (not as root): the pages drawn may come from runs made by others. Only
        // when it does not start in it (a kernel without unprivileged user namespaces) is it started without, and
        // Sandboxed says so.
        bool sandbox = Doctor.ChromiumSandboxPossible;
        try
        {
            IBrowser browser;
            string? note = null;
            // A browser that hangs (System.TimeoutException, not a PlaywrightException) is not retried: that would only
            // double the wait.
            try { browser = await LaunchBrowserAsync(playwright, exe, sandbox); }
            catch (PlaywrightException e) when (sandbox)
            {
                sandbox = false;
                browser = await LaunchBrowserAsync(playwright, exe, sandbox);
                note = $"Chromium runs without its sandbox: it did not start in it ({e.Message.Split('\n')[0]}); on Linux its sandbox needs unprivileged user namespaces";
            }
            return new HeadlessBrowser(playwright, browser, exe) { Sandboxed = sandbox, SandboxNote = note };
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            playwright.Dispose();
            throw new GestaltLabException($"{exe} did not start headless ({e.Message.Split('\n')[0]})",
                "run `gestaltlab doctor`; reinstall Debian package chromium", e);
        }
    }

    private static Task<IBrowser> LaunchBrowserAsync(IPlaywright playwright, string exe, bool sandbox)
    {
        // Playwright passes its own --headless, user-data directory and (ChromiumSandbox false) --no-sandbox; the rest
        // are the toolkit's offline flags.
        var args = Doctor.HeadlessChromiumArguments("unused", sandbox)
            .Where(a => !a.StartsWith("--user-data-dir", StringComparison.Ordinal) && !a.StartsWith("--headless", StringComparison.Ordinal) && a != "--no-sandbox")
            .Append("--font-render-hinting=none").ToArray();
        return playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = exe, Headless = true, Args = args, Timeout = 60_000, ChromiumSandbox = sandbox,
        });
    }

    /// <summary>A new page that may only load what is on the machine (file: and data: URLs).</summary>
    internal async Task<(IPage Page, List<string> Errors, List<string> Blocked, IBrowserContext Context)> NewPageAsync(int width = 1280, int height = 900, float scale = 1)
    {
        var context = await _browser.NewContextAsync(new BrowserNewContextOptions
        {
            ViewportSize = new ViewportSize { Width = width, Height = height }, DeviceScaleFactor = scale, Offline = true,
        });
        var errors = new List<string>();
        var blocked = new List<string>();
        await context.RouteAsync("**/*", async route =>
        {
            string url = route.Request.Url;
            if (url.StartsWith("file:", StringComparison.OrdinalIgnoreCase) || url.StartsWith("data:", StringComparison.OrdinalIgnoreCase)
                || url.StartsWith("about:", StringComparison.OrdinalIgnoreCase) || url.StartsWith("blob:", StringComparison.OrdinalIgnoreCase))
                await route.ContinueAsync();
            else
            {
                lock (blocked) blocked.Add(url);
                await route.AbortAsync();
            }
        });
        var page = await context.NewPageAsync();
        page.Console += (_, m) => { if (m.Type == "error") lock (errors) errors.Add(m.Text); };
        page.PageError += (_, e) => { lock (errors) errors.Add(e); };
        return (page, errors, blocked, context);
    }

    /// <summary>
    /// Opens an HTML file, waits until plotly.js has drawn every <c>.gl-chart</c> (or <paramref name="timeoutMs"/>
    /// passes), and reports charts, rendered charts, console errors and blocked network requests. The page load itself
    /// may take up to a minute whatever <paramref name="timeoutMs"/> is: a 3.6 MB inlined plotly.js parses slowly on a
    /// busy machine, and a short wait for charts must not turn into a failed load.
    /// </summary>
    public async Task<PageCheck> CheckPageAsync(string htmlPath, int timeoutMs = 60_000, CancellationToken cancellationToken = default)
    {
        if (!File.Exists(htmlPath)) throw new GestaltLabException($"{htmlPath}: file not found");
        var (page, errors, blocked, context) = await NewPageAsync();
        try
        {
            await page.GotoAsync(new Uri(Path.GetFullPath(htmlPath)).AbsoluteUri, new PageGotoOptions { WaitUntil = WaitUntilState.Load, Timeout = Math.Max(timeoutMs, 60_000) });
            cancellationToken.ThrowIfCancellationRequested();
            try
            {
                await page.WaitForFunctionAsync(
                    "() => Array.from(document.querySelectorAll('.gl-chart')).every(d => d.querySelector('.main-svg'))",
                    null, new PageWaitForFunctionOptions { Timeout = timeoutMs, PollingInterval = 100 });
            }
            catch (TimeoutException)
            {
                // Reported below as charts that did not render.
            }
            int charts = await page.EvaluateAsync<int>("() => document.querySelectorAll('.gl-chart').length");
            int rendered = await page.EvaluateAsync<int>("() => Array.from(document.querySelectorAll('.gl-chart')).filter(d => d.querySelector('.main-svg')).length");
            lock (errors) lock (blocked) return new PageCheck(charts, rendered, errors.ToArray(), blocked.ToArray());
        }
        finally
        {
            await context.CloseAsync();
        }
    }

    /// <summary>
    /// The fonts Chromium draws text in for a CSS font-family list on this machine, the one drawing most of a sample
    /// line first: Helvetica or Arial where installed (or a metric-compatible face such as Liberation Sans), else what
    /// the system resolves "sans-serif" to (DejaVu Sans on a bare Debian). What a PNG's words were set in.
    /// </summary>
    /// <param name="cssFamily">A CSS font-family value, e.g. <see cref="Charts.FontFamily"/>.</param>
    /// <param name="cancellationToken">Cancels before the page is asked.</param>
    public async Task<IReadOnlyList<string>> FontsForAsync(string cssFamily, CancellationToken cancellationToken = default)
    {
        var (page, _, _, context) = await NewPageAsync();
        try
        {
            await page.SetContentAsync("<!DOCTYPE html><html><body><p id=\"sample\"></p></body></html>");
            // Set through the DOM, so that no family name is read as markup.
            // Laid out and painted before it is asked (the fonts are known once the text is shaped).
            await page.EvaluateAsync("""
                async f => {
                  const p = document.getElementById('sample'); p.style.fontFamily = f; p.textContent = 'true class 0.95 AUC Mmg';
                  void p.getBoundingClientRect();
                  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
                }
                """, cssFamily);
            // What the renderer actually used: only the DevTools protocol tells (a page's scripts see the list it asked for).
            var cdp = await context.NewCDPSessionAsync(page);
            await cdp.SendAsync("DOM.enable");
            await cdp.SendAsync("CSS.enable");
            var document = await cdp.SendAsync("DOM.getDocument");
            var sample = await cdp.SendAsync("DOM.querySelector", new Dictionary<string, object>
            {
                ["nodeId"] = document!.Value.GetProperty("root").GetProperty("nodeId").GetInt32(), ["selector"] = "#sample",
            });
            // On a busy machine the first answer may come before the text was shaped (no fonts yet): asked again, briefly.
            for (int attempt = 0; ; attempt++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var fonts = await cdp.SendAsync("CSS.getPlatformFontsForNode", new Dictionary<string, object> { ["nodeId"] = sample!.Value.GetProperty("nodeId").GetInt32() });
                var names = fonts!.Value.GetProperty("fonts").EnumerateArray()
                    .OrderByDescending(f => f.GetProperty("glyphCount").GetDouble())
                    .Select(f => f.GetProperty("familyName").GetString() ?? "").Where(n => n.Length > 0).Distinct().ToList();
                if (names.Count > 0 || attempt >= 20) return names;
                await Task.Delay(50, cancellationToken);
            }
        }
        finally
        {
            await context.CloseAsync();
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        try { await _browser.CloseAsync(); }
        finally { _playwright.Dispose(); }
    }
}
