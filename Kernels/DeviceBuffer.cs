namespace Engine.Kernels;

/// <summary>
/// Float32 storage that belongs to one backend: a managed array for the CpuBackend, device
/// memory for a GPU backend. Tensors hold one; ops read and write them only through their backend.
/// </summary>
public abstract class DeviceBuffer : IDisposable
{
    protected DeviceBuffer(int length)
    {
        if (length < 0) throw new ArgumentOutOfRangeException(nameof(length), $"buffer length must be >= 0, got {length}");
        Length = length;
    }

    public int Length { get; }
    public abstract IBackend Backend { get; }

    /// <summary>Host → buffer. The source must hold exactly Length floats.</summary>
    public abstract void CopyFrom(ReadOnlySpan<float> source);

    /// <summary>Buffer → host.</summary>
    public abstract void CopyTo(Span<float> destination);

    public float[] ToArray()
    {
        var host = new float[Length];
        CopyTo(host);
        return host;
    }

    public virtual void Dispose() { }
}
