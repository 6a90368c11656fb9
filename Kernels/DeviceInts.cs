namespace Engine.Kernels;

/// <summary>
/// Int32 storage on a device: the device-resident decode loop's token ids, positions and per-row state, which
/// stay on the device between steps instead of coming from the host each time (IBackend's int[] inputs do).
/// </summary>
public abstract class DeviceInts : IDisposable
{
    protected DeviceInts(int length)
    {
        if (length < 0) throw new ArgumentOutOfRangeException(nameof(length), $"buffer length must be >= 0, got {length}");
        Length = length;
    }

    public int Length { get; }

    /// <summary>A view of length elements from offset (no copy; it shares this buffer's memory and lifetime).</summary>
    public abstract DeviceInts Slice(int offset, int length);

    /// <summary>Host → device: exactly Length ints. One counted upload.</summary>
    public abstract void CopyFrom(ReadOnlySpan<int> source);

    /// <summary>Device → host: exactly Length ints (waits for the stream). One counted readback.</summary>
    public abstract void CopyTo(Span<int> destination);

    public virtual void Dispose() { }
}
