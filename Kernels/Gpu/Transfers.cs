using System.Diagnostics;

namespace Engine.Kernels.Gpu;

/// <summary>
/// Every host↔device copy and device-wide synchronisation a GPU backend makes: counts, bytes and host
/// time. `--profile` prints them beside the kernels (a step that copies per tensor or per layer shows
/// here), and tests count them to keep a training step free of round trips.
/// </summary>
public sealed class Transfers
{
    long toDevice, toDeviceBytes, toDeviceTicks, toHost, toHostBytes, toHostTicks, syncs, syncTicks;

    public long ToDevice => Interlocked.Read(ref toDevice);
    public long ToHost => Interlocked.Read(ref toHost);
    public long Synchronizations => Interlocked.Read(ref syncs);

    internal void Up(long bytes, long start) => Add(ref toDevice, ref toDeviceBytes, ref toDeviceTicks, bytes, start);
    internal void Down(long bytes, long start) => Add(ref toHost, ref toHostBytes, ref toHostTicks, bytes, start);

    internal void Synchronized(long start)
    {
        Interlocked.Increment(ref syncs);
        Interlocked.Add(ref syncTicks, Stopwatch.GetTimestamp() - start);
    }

    static void Add(ref long count, ref long bytes, ref long ticks, long n, long start)
    {
        Interlocked.Increment(ref count);
        Interlocked.Add(ref bytes, n);
        Interlocked.Add(ref ticks, Stopwatch.GetTimestamp() - start);
    }

    /// <summary>Rows for a profile: name, count, total milliseconds, megabytes moved.</summary>
    public IReadOnlyList<(string Name, long Count, double Milliseconds, double Megabytes)> Rows(long syncsToIgnore = 0) =>
    [
        ("copy host→device", ToDevice, Ms(toDeviceTicks), Interlocked.Read(ref toDeviceBytes) / 1e6),
        ("copy device→host", ToHost, Ms(toHostTicks), Interlocked.Read(ref toHostBytes) / 1e6),
        ("synchronise", Math.Max(0, Synchronizations - syncsToIgnore), Ms(syncTicks), 0),
    ];

    static double Ms(long ticks) => Interlocked.Read(ref ticks) * 1000.0 / Stopwatch.Frequency;
}
