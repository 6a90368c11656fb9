using Engine.Kernels;

namespace Engine;

/// <summary>
/// Picks the backend from a --device name. The GPU backend (ILGPU: cuda, opencl, ilgpu-cpu) is
/// not built yet; asking for it is a clear error, and auto means the CPU until it exists.
/// </summary>
public static class Backend
{
    public static readonly string[] Names = ["auto", "cpu", "cuda", "opencl", "ilgpu-cpu"];

    public static IBackend Create(string device) => device.ToLowerInvariant() switch
    {
        "auto" or "cpu" => new CpuBackend(),
        "cuda" or "opencl" or "ilgpu-cpu" => throw new NotSupportedException(
            $"--device {device}: the ILGPU backend is not part of this build yet; use --device cpu"),
        _ => throw new ArgumentException($"--device {device}: unknown device; expected one of {string.Join(", ", Names)}"),
    };
}
