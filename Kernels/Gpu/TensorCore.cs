using ILGPU;
using ILGPU.Runtime.Cuda;

namespace Engine.Kernels.Gpu;

/// <summary>A's fragment of one m16n8k8 TF32 MMA as one lane holds it (PTX ISA, "Matrix Fragments for mma.m16n8k8",
/// .tf32): with g = lane / 4 and t = lane % 4, A0 = A[g][t], A1 = A[g+8][t], A2 = A[g][t+4], A3 = A[g+8][t+4].</summary>
public struct FragA
{
    public float A0, A1, A2, A3;
}

/// <summary>B's fragment (8×8, K × N): B0 = B[t][g], B1 = B[t+4][g].</summary>
public struct FragB
{
    public float B0, B1;
}

/// <summary>The accumulator fragment (16×8): C0 = C[g][2t], C1 = C[g][2t+1], C2 = C[g+8][2t], C3 = C[g+8][2t+1].</summary>
public struct FragC
{
    public float C0, C1, C2, C3;
}

/// <summary>
/// Tensor-core pieces shared by the TF32 GEMM and attention kernels. Each PTX instruction has a software twin,
/// taken when the kernel does not run on CUDA (<see cref="CudaAsm.IsSupported"/> is false on ILGPU's CPU
/// accelerator), so the tiling, the fragment indexing and the hi/lo split are testable without a GPU:
/// <list type="bullet">
/// <item><see cref="RoundTf32"/>: <c>cvt.rna.tf32.f32</c>, round to nearest with ties away from zero, 10 mantissa
/// bits kept (the low 13 bits of the float become zero).</item>
/// <item><see cref="Split"/>: x ≈ hi + lo with hi = tf32(x), lo = tf32(x − hi), for 3×TF32 (hi·hi + hi·lo + lo·hi
/// recovers about fp32 accuracy; lo·lo is below fp32's last bit and dropped).</item>
/// <item><see cref="Mma"/>: <c>mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32</c>, D = A·B + C for a 16×8
/// tile with K = 8, called by all 32 lanes of a warp together. Its twin gathers each lane's row of A and
/// columns of B with warp shuffles and sums in k order in fp32; the hardware's internal summation order is not
/// specified, so GPU and twin may differ in the last bits.</item>
/// </list>
/// Warp size 32 is required (the fragment layout is defined over 32 lanes): launchers check
/// <see cref="RequireWarp32"/>; tests run on the 32-wide CPU accelerator (<c>ilgpu-cpu32</c>).
/// </summary>
public static class TensorCore
{
    /// <summary>TF32 rounding of x (cvt.rna.tf32.f32): nearest, ties away from zero; Inf and NaN pass through.</summary>
    public static float RoundTf32(float x)
    {
        if (CudaAsm.IsSupported)
        {
            var r = new Output<uint>();
            Input<float> input = x;
            CudaAsm.EmitRef("cvt.rna.tf32.f32 %0, %1;", ref r, ref input);
            return Interop.IntAsFloat(r.Value);
        }
        return RoundTf32Soft(x);
    }

    /// <summary>The software twin of <see cref="RoundTf32"/>, also usable on the host (CPU references, tests).</summary>
    public static float RoundTf32Soft(float x)
    {
        uint bits = Interop.FloatAsInt(x);
        if ((bits & 0x7F800000u) == 0x7F800000u) return x;   // Inf, NaN
        // Adding half of the dropped 13 bits' range to the magnitude, then truncating, rounds half away from zero
        // (the sign bit is untouched; a carry into the exponent is the correct round-up to the next binade).
        return Interop.IntAsFloat((bits + 0x1000u) & 0xFFFFE000u);
    }

    /// <summary>3×TF32 split: hi = tf32(x), lo = tf32(x − hi) (x − hi is exact in fp32).</summary>
    public static void Split(float x, out float hi, out float lo)
    {
        hi = RoundTf32(x);
        lo = RoundTf32(x - hi);
    }

    /// <summary>Refuses a launch on a device whose warps are not 32 lanes (the MMA fragment layout needs 32).</summary>
    public static void RequireWarp32(int warpSize, string kernel)
    {
        if (warpSize != 32)
            throw new NotSupportedException($"{kernel}: tensor-core fragments need warp size 32, this device has {warpSize} " +
                                            "(on ILGPU's CPU accelerator use the 32-wide device 'ilgpu-cpu32')");
    }

    /// <summary>c += a·b for one m16n8k8 tile (see <see cref="FragA"/>, <see cref="FragB"/>, <see cref="FragC"/>); every
    /// lane of the warp must call it. Inputs should already be TF32 (<see cref="RoundTf32"/>): the tensor core
    /// reads only their top 19 bits, and the twin truncates the same way.</summary>
    public static void Mma(FragA a, FragB b, ref FragC c)
    {
        if (CudaAsm.IsSupported)
        {
            // EmitRef passes every operand by reference; the inputs are copies (the tensor core takes .b32 registers).
            Input<uint> a0 = Interop.FloatAsInt(a.A0), a1 = Interop.FloatAsInt(a.A1), a2 = Interop.FloatAsInt(a.A2);
            Input<uint> a3 = Interop.FloatAsInt(a.A3), b0 = Interop.FloatAsInt(b.B0), b1 = Interop.FloatAsInt(b.B1);
            Ref<float> c0 = c.C0, c1 = c.C1, c2 = c.C2, c3 = c.C3;
            CudaAsm.EmitRef("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, " +
                            "{%8,%9}, {%0,%1,%2,%3};",
                ref c0, ref c1, ref c2, ref c3, ref a0, ref a1, ref a2, ref a3, ref b0, ref b1);
            c.C0 = c0.Value;
            c.C1 = c1.Value;
            c.C2 = c2.Value;
            c.C3 = c3.Value;
            return;
        }
        MmaTwin(a, b, ref c);
    }

    static float Truncate(float x) => Interop.IntAsFloat(Interop.FloatAsInt(x) & 0xFFFFE000u);

    static void MmaTwin(FragA a, FragB b, ref FragC c)
    {
        int lane = Warp.LaneIdx, g = lane >> 2, t = lane & 3;
        float d0 = c.C0, d1 = c.C1, d2 = c.C2, d3 = c.C3;
        float x0 = Truncate(a.A0), x1 = Truncate(a.A1), x2 = Truncate(a.A2), x3 = Truncate(a.A3);
        float y0 = Truncate(b.B0), y1 = Truncate(b.B1);
        // Pass 1 takes k = 0..3 (registers A0/A1 and B0), pass 2 k = 4..7 (A2/A3 and B1): every lane shuffles in
        // the same order, as a warp shuffle requires.
        for (int half = 0; half < 2; half++)
        {
            for (int kk = 0; kk < 4; kk++)
            {
                int fromA = g * 4 + kk, fromB0 = 8 * t + kk, fromB1 = 8 * t + 4 + kk;
                float rowG = Warp.Shuffle(half == 0 ? x0 : x2, fromA);       // A[g][k]
                float rowG8 = Warp.Shuffle(half == 0 ? x1 : x3, fromA);      // A[g+8][k]
                float col0 = Warp.Shuffle(half == 0 ? y0 : y1, fromB0);      // B[k][2t]
                float col1 = Warp.Shuffle(half == 0 ? y0 : y1, fromB1);      // B[k][2t+1]
                d0 += rowG * col0;
                d1 += rowG * col1;
                d2 += rowG8 * col0;
                d3 += rowG8 * col1;
            }
        }
        c.C0 = d0;
        c.C1 = d1;
        c.C2 = d2;
        c.C3 = d3;
    }
}
