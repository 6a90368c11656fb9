using ILGPU;
using ILGPU.Runtime;
using Engine.Kernels.Gpu;

namespace Engine.Kernels.Matmul;

/// <summary>
/// C[M,N] (+)= op(A)·op(B) on the accelerator (MatmulCpu.Reference is the definition): a group of
/// TX×TY threads computes a (4·TY)×(4·TX) tile of C; each thread a 4×4 register block, written
/// out by hand (ILGPU does not unroll). Per K step of BK, the group stages BK×BM of op(A) and
/// BK×BN of op(B) in shared memory; the loads read either layout, so one kernel serves all three
/// GEMMs of a linear layer. Edges are zero-padded in shared memory and masked on store.
/// Group shape: 16×16 on a GPU (64×64 tiles), 4×4 on ILGPU's CPU accelerator (its groups max out at 16).
/// </summary>
public static class MatmulGpu
{
    const int BK = 16, MaxTile = 64;

    static float LoadA(ArrayView<float> a, int row, int col, int m, int k, int transA) =>
        row < m && col < k ? (transA != 0 ? a[(long)col * m + row] : a[(long)row * k + col]) : 0f;

    static float LoadB(ArrayView<float> b, int row, int col, int k, int n, int transB) =>
        row < k && col < n ? (transB != 0 ? b[(long)col * k + row] : b[(long)row * n + col]) : 0f;

    static void Store(ArrayView<float> c, int row, int col, float v, int m, int n, int accumulate)
    {
        if (row >= m || col >= n) return;
        long i = (long)row * n + col;
        c[i] = accumulate != 0 ? c[i] + v : v;
    }

    static void Kernel(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, int m, int n, int k, int transA,
        int transB, int accumulate, int tilesN)
    {
        var As = SharedMemory.Allocate<float>(BK * MaxTile);   // [BK][BM]
        var Bs = SharedMemory.Allocate<float>(BK * MaxTile);   // [BK][BN]
        int tx = Group.IdxX, ty = Group.IdxY, TX = Group.DimX, TY = Group.DimY;
        int BM = 4 * TY, BN = 4 * TX, tid = ty * TX + tx, threads = TX * TY;
        int m0 = Grid.IdxX / tilesN * BM, n0 = Grid.IdxX % tilesN * BN;
        float c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0;
        float c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;
        for (int k0 = 0; k0 < k; k0 += BK)
        {
            for (int idx = tid; idx < BK * BM; idx += threads)
            {
                int kk = idx / BM, mm = idx % BM;
                As[kk * MaxTile + mm] = LoadA(a, m0 + mm, k0 + kk, m, k, transA);
            }
            for (int idx = tid; idx < BK * BN; idx += threads)
            {
                int kk = idx / BN, nn = idx % BN;
                Bs[kk * MaxTile + nn] = LoadB(b, k0 + kk, n0 + nn, k, n, transB);
            }
            Group.Barrier();
            for (int kk = 0; kk < BK; kk++)
            {
                int ao = kk * MaxTile + ty * 4, bo = kk * MaxTile + tx * 4;
                float a0 = As[ao], a1 = As[ao + 1], a2 = As[ao + 2], a3 = As[ao + 3];
                float b0 = Bs[bo], b1 = Bs[bo + 1], b2 = Bs[bo + 2], b3 = Bs[bo + 3];
                c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
                c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
                c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
                c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
            }
            Group.Barrier();
        }
        int r = m0 + ty * 4, col = n0 + tx * 4;
        Store(c, r, col, c00, m, n, accumulate); Store(c, r, col + 1, c01, m, n, accumulate);
        Store(c, r, col + 2, c02, m, n, accumulate); Store(c, r, col + 3, c03, m, n, accumulate);
        Store(c, r + 1, col, c10, m, n, accumulate); Store(c, r + 1, col + 1, c11, m, n, accumulate);
        Store(c, r + 1, col + 2, c12, m, n, accumulate); Store(c, r + 1, col + 3, c13, m, n, accumulate);
        Store(c, r + 2, col, c20, m, n, accumulate); Store(c, r + 2, col + 1, c21, m, n, accumulate);
        Store(c, r + 2, col + 2, c22, m, n, accumulate); Store(c, r + 2, col + 3, c23, m, n, accumulate);
        Store(c, r + 3, col, c30, m, n, accumulate); Store(c, r + 3, col + 1, c31, m, n, accumulate);
        Store(c, r + 3, col + 2, c32, m, n, accumulate); Store(c, r + 3, col + 3, c33, m, n, accumulate);
    }

    public static void Run(LaunchContext kernels, ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, int m,
        int n, int k, bool transA, bool transB, bool accumulate)
    {
        if (m == 0 || n == 0) return;
        if (k == 0)
        {
            if (!accumulate) Elementwise.ElementwiseGpu.Fill(kernels, c, 0f);
            return;
        }
        int side = kernels.MaxGroup >= 256 ? 16 : (int)Math.Sqrt(kernels.MaxGroup);   // 16×16 on a GPU, 4×4 on the CPU accelerator
        int bm = 4 * side, bn = 4 * side;
        int tilesM = (m + bm - 1) / bm, tilesN = (n + bn - 1) / bn;
        kernels.Grouped<ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, int, int, int, int>(Kernel)(
            new KernelConfig(new Index3D(tilesM * tilesN, 1, 1), new Index3D(side, side, 1)),
            a, b, c, m, n, k, transA ? 1 : 0, transB ? 1 : 0, accumulate ? 1 : 0, tilesN);
    }
}
