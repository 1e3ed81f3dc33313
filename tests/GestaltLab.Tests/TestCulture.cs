using System.Globalization;
using System.Runtime.CompilerServices;

namespace GestaltLab.Tests;

/// <summary>
/// Every test runs in German number formatting (0,5 for a half, 1.234 for a thousand and more), as a data scientist's
/// own notebook kernel or program may: GestaltLab's files (CSV, JSON, HTML, the charts' scripts) must read the same
/// there, and its messages must quote values as they are typed (`--max-megapixels 0.5`, C# literals). The
/// command line sets the invariant culture for itself, as its executable does.
/// </summary>
internal static class TestCulture
{
    internal static readonly CultureInfo Culture = CultureInfo.GetCultureInfo("de-DE");

#pragma warning disable CA2255 // a test assembly's own start-up, not a library's
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void Set()
    {
        CultureInfo.DefaultThreadCurrentCulture = Culture;
        CultureInfo.CurrentCulture = Culture;
    }
}

public class TestCultureTests
{
    [Fact]
    public void Tests_run_where_a_decimal_is_written_with_a_comma()
    {
        Assert.Equal("0,5", 0.5.ToString(CultureInfo.CurrentCulture));
        Assert.Equal("0,5", $"{0.5}");
    }
}
