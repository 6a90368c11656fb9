using Engine.Autograd;
using Engine.Kernels;

namespace Engine.Model;

/// <summary>
/// Where a forward's rows sit: positions from the host (training, prefill, the step-by-step decode), or, in the
/// device-resident decode loop, positions [R] (T = 1) that stay in device memory, advanced there by the loop, so no
/// step uploads them. Only inference reads the device form (rope and cached attention have no backward there).
/// </summary>
public sealed class RowPositions
{
    RowPositions(int[]? host, DeviceInts? device) => (Host, Device) = (host, device);

    public int[]? Host { get; }
    public DeviceInts? Device { get; }

    public static implicit operator RowPositions(int[] host) => new(host, null);
    public static RowPositions OnDevice(DeviceInts positions) => new(null, positions);

    public Tensor Rope(Tensor x, int heads, float theta)
    {
        if (Host is not null) return Ops.Rope(x, heads, theta, Host);
        int D = x.Size / (Device!.Length * heads);
        var y = Tensor.Zeros(x.Backend, x.Shape);
        Decode(x.Backend).Rope(x.Data, y.Data, Device, heads, D, theta);
        return y;
    }

    internal static IDeviceDecode Decode(IBackend backend) => backend as IDeviceDecode ??
        throw new InvalidOperationException($"positions on the device need a backend with device decode, not {backend.Name}");
}
