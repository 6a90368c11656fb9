using Engine.Kernels;
using Engine.Kernels.Gpu;

namespace Engine;

/// <summary>
/// Picks the backend from a --device name: cpu (the C# reference), cuda / opencl / ilgpu-cpu
/// (ILGPU kernels; ilgpu-cpu simulates GPU threads and is for tests at small shapes), or auto
/// (cuda when a CUDA device is present, else cpu).
/// </summary>
public static class Backend
{
    public static readonly string[] Names = ["auto", "cpu", "cuda", "opencl", "ilgpu-cpu"];

    public static IBackend Create(string device) => device.ToLowerInvariant() switch
    {
        "cpu" => new CpuBackend(),
        "auto" => GpuDevice.CudaAvailable() ? new GpuBackend("cuda") : new CpuBackend(),
        "cuda" or "opencl" or "ilgpu-cpu" => new GpuBackend(device.ToLowerInvariant()),
        _ => throw new ArgumentException($"--device {device}: unknown device; expected one of {string.Join(", ", Names)}"),
    };
}
