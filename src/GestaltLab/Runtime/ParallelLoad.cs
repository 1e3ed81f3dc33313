using System.Runtime.ExceptionServices;

namespace GestaltLab.Runtime;

/// <summary>
/// Parallel loops over files. <see cref="Parallel.For(int, int, ParallelOptions, Action{int})"/> wraps a worker's
/// exception in an <see cref="AggregateException"/>, which would hide a <see cref="GestaltLabException"/> naming a bad
/// or missing file behind "One or more errors occurred"; these rethrow the first such error as itself (else the first
/// error of any kind).
/// </summary>
internal static class ParallelLoad
{
    /// <summary>Runs <paramref name="body"/> for 0 ≤ i &lt; <paramref name="count"/> on up to <paramref name="threads"/> threads (0 = all cores).</summary>
    public static void For(int count, int threads, Action<int> body)
    {
        try
        {
            Parallel.For(0, count, new ParallelOptions { MaxDegreeOfParallelism = threads > 0 ? threads : -1 }, body);
        }
        catch (AggregateException e)
        {
            // The error that names a file first; otherwise the first error as itself (not "One or more errors occurred").
            var inner = e.Flatten().InnerExceptions;
            ExceptionDispatchInfo.Throw(inner.OfType<GestaltLabException>().FirstOrDefault() ?? inner[0]);
        }
    }
}
