using ILGPU;
using ILGPU.Runtime;

namespace Engine.Kernels.Gpu;

/// <summary>A view's device address in bytes, for inline PTX that reads or writes global memory itself
/// (<c>cp.async</c>, the tensor-core versions' masked stores): ILGPU cannot give a view's address inside a kernel, so
/// the launcher passes it as a <c>long</c>. On ILGPU's CPU accelerator it is a host pointer, which is how the tests
/// check it.</summary>
public static class DeviceAddress
{
    public static long Of(ArrayView<float> x)
    {
        var view = (IContiguousArrayView)x;
        return view.Buffer.NativePtr.ToInt64() + view.IndexInBytes;
    }

    /// <summary>Whether the view starts on a 16-byte boundary of its buffer, so its element 4i can be read as one
    /// 128-bit access. Device allocations are 256-byte aligned, so the view's offset decides.</summary>
    public static bool Aligned16(ArrayView<float> x) => ((IContiguousArrayView)x).IndexInBytes % 16 == 0;
}
