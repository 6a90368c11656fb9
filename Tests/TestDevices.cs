using Engine.Kernels;
using NUnit.Framework;

namespace Engine.Tests;

/// <summary>
/// One 32-wide CPU accelerator (ilgpu-cpu32) for every test that needs 256-thread groups or 32-lane warps: kernels
/// compile once per accelerator (seconds each on the CPU accelerator), so the fixtures share it. Disposed after the
/// last test of the namespace.
/// </summary>
[SetUpFixture]
public sealed class TestDevices
{
    static readonly object gate = new();
    static GpuBackend? wide;

    public static GpuBackend Wide
    {
        get { lock (gate) return wide ??= new GpuBackend("ilgpu-cpu32"); }
    }

    [OneTimeTearDown]
    public void Close()
    {
        lock (gate)
        {
            wide?.Dispose();
            wide = null;
        }
    }
}
