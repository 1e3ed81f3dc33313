using GestaltLab.Runtime;

namespace GestaltLab.Tests;

/// <summary>
/// Progress reported on the calling thread: <see cref="Progress{T}"/> posts each report to the thread pool, so a test
/// reading its reports right after the call could miss the last ones.
/// </summary>
internal sealed class SyncProgress(Action<ProgressUpdate> report) : IProgress<ProgressUpdate>
{
    public void Report(ProgressUpdate value) => report(value);
}
