using Engine.Kernels;
using Engine.Kernels.Gpu;

namespace Engine;

/// <summary>
/// Picks the backend from a --device name: cpu (the C# reference), cuda / opencl / ilgpu-cpu / ilgpu-cpu32
/// (ILGPU kernels; ilgpu-cpu simulates GPU threads and is for tests at small shapes; ilgpu-cpu32 simulates warps of
/// 32 and groups of up to 1024, which the 128×128 and tensor-core GEMMs need), or auto
/// (cuda when a CUDA device is present, else cpu).
/// </summary>
public static class Backend
{
    public static readonly string[] Names = ["auto", "cpu", "cuda", "opencl", "ilgpu-cpu", "ilgpu-cpu32"];

    /// <param name="precision">fp32 | tf32 | 3xtf32: how GPU matmuls and attention multiply (<see cref="Precision"/>);
    /// the CPU backend always computes in fp32 and says so on stderr when asked for another.</param>
    /// <param name="deviceTiming">GPU backends record device events so --profile times kernels on the device.</param>
    public static IBackend Create(string device, string precision = "fp32", bool deviceTiming = false)
    {
        var p = PrecisionNames.Parse(precision);
        var backend = Create(device, deviceTiming);
        if (backend is GpuBackend gpu) gpu.Precision = p;
        else if (p != Precision.Fp32)
            Console.Error.WriteLine($"engine: note: --precision {precision} applies to GPU devices; the CPU backend computes in fp32");
        return backend;
    }

    public static IBackend Create(string device, bool deviceTiming) => device.ToLowerInvariant() switch
    {
        "cpu" => new CpuBackend(),
        "auto" => GpuDevice.CudaAvailable() ? new GpuBackend("cuda", deviceTiming) : new CpuBackend(),
        "cuda" or "opencl" or "ilgpu-cpu" or "ilgpu-cpu32" => new GpuBackend(device.ToLowerInvariant(), deviceTiming),
        _ => throw new ArgumentException($"--device {device}: unknown device; expected one of {string.Join(", ", Names)}"),
    };
}
