using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Engine.Kernels.Matmul;

/// <summary>
/// The register-blocked heart of the GEMM: C[MR, NR] += Apanel[MR, kc] · Bpanel[kc, NR], where the
/// panels are packed so that each step p reads MR consecutive A values (broadcast) and NR consecutive
/// B values (vector loads). All MR×NR accumulators live in SIMD registers for the whole k loop.
/// AVX-512: 12×32 (24 zmm accumulators of the 32); AVX2 fallback: 6×16 (12 ymm of the 16).
/// The JIT does not unroll; the tile is written out by hand.
/// </summary>
public static unsafe class GemmMicroKernel
{
    public static readonly bool Wide = Vector512.IsHardwareAccelerated;
    public static readonly int MR = Wide ? 12 : 6;
    public static readonly int NR = Wide ? 32 : 16;

    public static void Run(int kc, float* a, float* b, float* c, int ldc)
    {
        if (Wide) Run12x32(kc, a, b, c, ldc);
        else Run6x16(kc, a, b, c, ldc);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Run12x32(int kc, float* a, float* b, float* c, int ldc)
    {
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector512<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        Vector512<float> c60 = default, c61 = default, c70 = default, c71 = default, c80 = default, c81 = default;
        Vector512<float> c90 = default, c91 = default, ca0 = default, ca1 = default, cb0 = default, cb1 = default;
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector512.Load(b);
            var b1 = Vector512.Load(b + 16);
            Vector512<float> ai;
            ai = Vector512.Create(a[0]); c00 = Vector512.FusedMultiplyAdd(ai, b0, c00); c01 = Vector512.FusedMultiplyAdd(ai, b1, c01);
            ai = Vector512.Create(a[1]); c10 = Vector512.FusedMultiplyAdd(ai, b0, c10); c11 = Vector512.FusedMultiplyAdd(ai, b1, c11);
            ai = Vector512.Create(a[2]); c20 = Vector512.FusedMultiplyAdd(ai, b0, c20); c21 = Vector512.FusedMultiplyAdd(ai, b1, c21);
            ai = Vector512.Create(a[3]); c30 = Vector512.FusedMultiplyAdd(ai, b0, c30); c31 = Vector512.FusedMultiplyAdd(ai, b1, c31);
            ai = Vector512.Create(a[4]); c40 = Vector512.FusedMultiplyAdd(ai, b0, c40); c41 = Vector512.FusedMultiplyAdd(ai, b1, c41);
            ai = Vector512.Create(a[5]); c50 = Vector512.FusedMultiplyAdd(ai, b0, c50); c51 = Vector512.FusedMultiplyAdd(ai, b1, c51);
            ai = Vector512.Create(a[6]); c60 = Vector512.FusedMultiplyAdd(ai, b0, c60); c61 = Vector512.FusedMultiplyAdd(ai, b1, c61);
            ai = Vector512.Create(a[7]); c70 = Vector512.FusedMultiplyAdd(ai, b0, c70); c71 = Vector512.FusedMultiplyAdd(ai, b1, c71);
            ai = Vector512.Create(a[8]); c80 = Vector512.FusedMultiplyAdd(ai, b0, c80); c81 = Vector512.FusedMultiplyAdd(ai, b1, c81);
            ai = Vector512.Create(a[9]); c90 = Vector512.FusedMultiplyAdd(ai, b0, c90); c91 = Vector512.FusedMultiplyAdd(ai, b1, c91);
            ai = Vector512.Create(a[10]); ca0 = Vector512.FusedMultiplyAdd(ai, b0, ca0); ca1 = Vector512.FusedMultiplyAdd(ai, b1, ca1);
            ai = Vector512.Create(a[11]); cb0 = Vector512.FusedMultiplyAdd(ai, b0, cb0); cb1 = Vector512.FusedMultiplyAdd(ai, b1, cb1);
            a += 12;
            b += 32;
        }
        Store2(c + 0 * ldc, c00, c01); Store2(c + 1 * ldc, c10, c11); Store2(c + 2 * ldc, c20, c21);
        Store2(c + 3 * ldc, c30, c31); Store2(c + 4 * ldc, c40, c41); Store2(c + 5 * ldc, c50, c51);
        Store2(c + 6 * ldc, c60, c61); Store2(c + 7 * ldc, c70, c71); Store2(c + 8 * ldc, c80, c81);
        Store2(c + 9 * ldc, c90, c91); Store2(c + 10 * ldc, ca0, ca1); Store2(c + 11 * ldc, cb0, cb1);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Store2(float* row, Vector512<float> v0, Vector512<float> v1)
    {
        Vector512.Store(Vector512.Load(row) + v0, row);
        Vector512.Store(Vector512.Load(row + 16) + v1, row + 16);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Run6x16(int kc, float* a, float* b, float* c, int ldc)
    {
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector256<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector256.Load(b);
            var b1 = Vector256.Load(b + 8);
            Vector256<float> ai;
            ai = Vector256.Create(a[0]); c00 = Vector256.FusedMultiplyAdd(ai, b0, c00); c01 = Vector256.FusedMultiplyAdd(ai, b1, c01);
            ai = Vector256.Create(a[1]); c10 = Vector256.FusedMultiplyAdd(ai, b0, c10); c11 = Vector256.FusedMultiplyAdd(ai, b1, c11);
            ai = Vector256.Create(a[2]); c20 = Vector256.FusedMultiplyAdd(ai, b0, c20); c21 = Vector256.FusedMultiplyAdd(ai, b1, c21);
            ai = Vector256.Create(a[3]); c30 = Vector256.FusedMultiplyAdd(ai, b0, c30); c31 = Vector256.FusedMultiplyAdd(ai, b1, c31);
            ai = Vector256.Create(a[4]); c40 = Vector256.FusedMultiplyAdd(ai, b0, c40); c41 = Vector256.FusedMultiplyAdd(ai, b1, c41);
            ai = Vector256.Create(a[5]); c50 = Vector256.FusedMultiplyAdd(ai, b0, c50); c51 = Vector256.FusedMultiplyAdd(ai, b1, c51);
            a += 6;
            b += 16;
        }
        Store2(c + 0 * ldc, c00, c01); Store2(c + 1 * ldc, c10, c11); Store2(c + 2 * ldc, c20, c21);
        Store2(c + 3 * ldc, c30, c31); Store2(c + 4 * ldc, c40, c41); Store2(c + 5 * ldc, c50, c51);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Store2(float* row, Vector256<float> v0, Vector256<float> v1)
    {
        Vector256.Store(Vector256.Load(row) + v0, row);
        Vector256.Store(Vector256.Load(row + 8) + v1, row + 8);
    }
}
