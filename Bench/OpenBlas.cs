using System.Runtime.InteropServices;

namespace Bench;

/// <summary>
/// OpenBLAS's cblas_sgemm through P/Invoke: the CPU anchor, measured in the same process as our
/// GEMM. Needs the Debian package libopenblas0-pthread; the benches print an install hint without it.
/// </summary>
static unsafe class OpenBlas
{
    const int RowMajor = 101, NoTrans = 111, Trans = 112;
    static readonly Lazy<IntPtr> Handle = new(() =>
        NativeLibrary.TryLoad("libopenblas.so.0", out var h) || NativeLibrary.TryLoad("libopenblas.so", out h) ? h : IntPtr.Zero);

    public const string InstallHint = "OpenBLAS not found: install it with `sudo apt-get install libopenblas0-pthread` to get the anchor column.";

    public static bool Available => Handle.Value != IntPtr.Zero;

    /// <summary>C[M,N] = op(A)·op(B), the same layouts as MatmulCpu.Gemm.</summary>
    public static void Sgemm(float[] a, float[] b, float[] c, int m, int n, int k, bool transA, bool transB)
    {
        var fn = (delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void>)
            NativeLibrary.GetExport(Handle.Value, "cblas_sgemm");
        fixed (float* pa = a, pb = b, pc = c)
            fn(RowMajor, transA ? Trans : NoTrans, transB ? Trans : NoTrans, m, n, k, 1f,
               pa, transA ? m : k, pb, transB ? k : n, 0f, pc, n);
    }

    public static int Threads
    {
        get
        {
            if (!Available || !NativeLibrary.TryGetExport(Handle.Value, "openblas_get_num_threads", out var f)) return 0;
            return ((delegate* unmanaged<int>)f)();
        }
    }
}
