using ILGPU;
using ILGPU.Runtime.Cuda;

namespace Engine.Kernels.Gpu;

/// <summary>A's fragment of one m16n8k8 TF32 MMA as one lane holds it (PTX ISA, "Matrix Fragments for mma.m16n8k8",
/// .tf32): with g = lane / 4 and t = lane % 4, A0 = A[g][t], A1 = A[g+8][t], A2 = A[g][t+4], A3 =
/// A[g+8][t+4].</summary>
public struct FragA
{
    public float A0, A1, A2, A3;
}

/// <summary>B's fragment (8×8, K × N): B0 = B[t][g], B1 = B[t+4][g].</summary>
public struct FragB
{
    public float B0, B1;
}

/// <summary>The accumulator fragment (16×8): C0 = C[g][2t], C1 = C[g][2t+1], C2 = C[g+8][2t], C3 =
/// C[g+8][2t+1].</summary>
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
/// <item><see cref="Mma3"/>: the three MMAs of 3×TF32 on a split pair (twin: one gather for all three).</item>
/// </list>
/// Warp size 32 is required (the fragment layout is defined over 32 lanes): launchers check
/// <see cref="RequireWarp32"/>; tests run on the 32-wide CPU accelerator (<c>ilgpu-cpu32</c>).
/// </summary>
public static class TensorCore
{
    /// <summary>TF32 rounding of x (cvt.rna.tf32.f32): nearest, ties away from zero; Inf and NaN pass
    /// through.</summary>
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

    /// <summary>The software twin of <see cref="RoundTf32"/>, also usable on the host (CPU references,
    /// tests).</summary>
    public static float RoundTf32Soft(float x)
    {
        uint bits = Interop.FloatAsInt(x);
        // Inf and NaN are truncated, not rounded: what ptxas makes of cvt.rna.tf32.f32 for sm_90 (SASS: add 0x1000
        // only below Inf, then clear the low 13 bits), so a NaN whose payload lies only in those bits becomes Inf.
        if ((bits & 0x7F800000u) == 0x7F800000u) return Interop.IntAsFloat(bits & 0xFFFFE000u);
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
            throw new NotSupportedException($"{kernel}: tensor-core fragments need warp size 32, this device has " +
                                            $"{warpSize} " +
                                            "(on ILGPU's CPU accelerator use the 32-wide device 'ilgpu-cpu32')");
    }

    /// <summary>c += a·b for one m16n8k8 tile (see <see cref="FragA"/>, <see cref="FragB"/>,
    /// <see cref="FragC"/>); every lane of the warp must call it. Pass TF32 values (<see cref="RoundTf32"/>): TF32
    /// is the top 19 bits of a float, and what the tensor core does with nonzero low 13 bits is not what the
    /// kernels rely on; the twin ignores them (truncates).</summary>
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

    /// <summary>3×TF32 (hi·hi + hi·lo + lo·hi ≈ fp32 product): c += alo·bhi, then ahi·blo, then ahi·bhi — three
    /// MMAs, the small terms first. Same as three <see cref="Mma"/> calls; the twin gathers each fragment pair
    /// once.</summary>
    public static void Mma3(FragA ahi, FragA alo, FragB bhi, FragB blo, ref FragC c)
    {
        if (CudaAsm.IsSupported)
        {
            Mma(alo, bhi, ref c);
            Mma(ahi, blo, ref c);
            Mma(ahi, bhi, ref c);
            return;
        }
        Mma3Soft(ahi, alo, bhi, blo, ref c);
    }

    /// <summary>The software twin of <see cref="Mma"/> alone, for kernels that issue the PTX themselves on
    /// PTX-declared registers (v8/v9): ILGPU keeps the body of an <c>if (CudaAsm.IsSupported)</c> branch in the PTX
    /// even where it can never run, so their twin branch must not reach <see cref="Mma"/>'s EmitRef (whose operands
    /// live in local memory).</summary>
    public static void MmaSoft(FragA a, FragB b, ref FragC c) => MmaTwin(a, b, ref c);

    /// <summary>The software twin of <see cref="Mma3"/> alone (see <see cref="MmaSoft"/>).</summary>
    public static void Mma3Soft(FragA ahi, FragA alo, FragB bhi, FragB blo, ref FragC c)
    {
        var a = new Pair<FragA> { Hi = Truncate(ahi), Lo = Truncate(alo) };
        var b = new Pair<FragB> { Hi = Truncate(bhi), Lo = Truncate(blo) };
        Gather(a, b, out var rows, out var cols);
        Accumulate(rows.Lo, cols.Hi, ref c);
        Accumulate(rows.Hi, cols.Lo, ref c);
        Accumulate(rows.Hi, cols.Hi, ref c);
    }

    // ---- the software twin: shuffles in the PTX fragment layout, then a k-ordered fp32 sum ----

    struct Pair<T> where T : struct
    {
        public T Hi, Lo;
    }

    /// <summary>What a lane needs for its four outputs: A's rows g and g+8 and B's columns 2t and 2t+1, for
    /// k = 0..7. Rows: R[kk] holds A[g][kk], A[g+8][kk], A[g][kk+4], A[g+8][kk+4] (the fragment of lane 4g+kk).
    /// Columns: C0[kk] holds B[kk][2t], B[kk+4][2t] (lane 8t+kk), C1[kk] the same of column 2t+1 (lane
    /// 8t+4+kk).</summary>
    struct Gathered
    {
        public FragA R0, R1, R2, R3;
        public FragB C00, C01, C02, C03, C10, C11, C12, C13;
    }

    static FragA Truncate(FragA x) => new() { A0 = Truncate(x.A0), A1 = Truncate(x.A1), A2 = Truncate(x.A2),
        A3 = Truncate(x.A3) };

    static FragB Truncate(FragB x) => new() { B0 = Truncate(x.B0), B1 = Truncate(x.B1) };

    static float Truncate(float x) => Interop.IntAsFloat(Interop.FloatAsInt(x) & 0xFFFFE000u);

    static void MmaTwin(FragA a, FragB b, ref FragC c)
    {
        Gather(new Pair<FragA> { Hi = Truncate(a) }, new Pair<FragB> { Hi = Truncate(b) }, out var rows, out var cols);
        Accumulate(rows.Hi, cols.Hi, ref c);
    }

    /// <summary>12 shuffles of whole fragments (every lane takes part, in the same order, as a shuffle requires).
    /// A shuffle costs milliseconds on ILGPU's CPU accelerator, so hi and lo travel together.</summary>
    static void Gather(Pair<FragA> a, Pair<FragB> b, out Pair<Gathered> rows, out Pair<Gathered> cols)
    {
        int lane = Warp.LaneIdx, g = lane >> 2, t = lane & 3;
        rows = default;
        cols = default;
        var r = Warp.Shuffle(a, 4 * g);
        rows.Hi.R0 = r.Hi; rows.Lo.R0 = r.Lo;
        r = Warp.Shuffle(a, 4 * g + 1);
        rows.Hi.R1 = r.Hi; rows.Lo.R1 = r.Lo;
        r = Warp.Shuffle(a, 4 * g + 2);
        rows.Hi.R2 = r.Hi; rows.Lo.R2 = r.Lo;
        r = Warp.Shuffle(a, 4 * g + 3);
        rows.Hi.R3 = r.Hi; rows.Lo.R3 = r.Lo;
        var q = Warp.Shuffle(b, 8 * t);
        cols.Hi.C00 = q.Hi; cols.Lo.C00 = q.Lo;
        q = Warp.Shuffle(b, 8 * t + 1);
        cols.Hi.C01 = q.Hi; cols.Lo.C01 = q.Lo;
        q = Warp.Shuffle(b, 8 * t + 2);
        cols.Hi.C02 = q.Hi; cols.Lo.C02 = q.Lo;
        q = Warp.Shuffle(b, 8 * t + 3);
        cols.Hi.C03 = q.Hi; cols.Lo.C03 = q.Lo;
        q = Warp.Shuffle(b, 8 * t + 4);
        cols.Hi.C10 = q.Hi; cols.Lo.C10 = q.Lo;
        q = Warp.Shuffle(b, 8 * t + 5);
        cols.Hi.C11 = q.Hi; cols.Lo.C11 = q.Lo;
        q = Warp.Shuffle(b, 8 * t + 6);
        cols.Hi.C12 = q.Hi; cols.Lo.C12 = q.Lo;
        q = Warp.Shuffle(b, 8 * t + 7);
        cols.Hi.C13 = q.Hi; cols.Lo.C13 = q.Lo;
    }

    /// <summary>c += A·B over k = 0..7 in order, in fp32 (products of TF32 values are exact in fp32).</summary>
    static void Accumulate(Gathered a, Gathered b, ref FragC c)
    {
        float d0 = c.C0, d1 = c.C1, d2 = c.C2, d3 = c.C3;
        Step(a.R0.A0, a.R0.A1, b.C00.B0, b.C10.B0, ref d0, ref d1, ref d2, ref d3);   // k = 0
        Step(a.R1.A0, a.R1.A1, b.C01.B0, b.C11.B0, ref d0, ref d1, ref d2, ref d3);
        Step(a.R2.A0, a.R2.A1, b.C02.B0, b.C12.B0, ref d0, ref d1, ref d2, ref d3);
        Step(a.R3.A0, a.R3.A1, b.C03.B0, b.C13.B0, ref d0, ref d1, ref d2, ref d3);
        Step(a.R0.A2, a.R0.A3, b.C00.B1, b.C10.B1, ref d0, ref d1, ref d2, ref d3);   // k = 4
        Step(a.R1.A2, a.R1.A3, b.C01.B1, b.C11.B1, ref d0, ref d1, ref d2, ref d3);
        Step(a.R2.A2, a.R2.A3, b.C02.B1, b.C12.B1, ref d0, ref d1, ref d2, ref d3);
        Step(a.R3.A2, a.R3.A3, b.C03.B1, b.C13.B1, ref d0, ref d1, ref d2, ref d3);
        c.C0 = d0;
        c.C1 = d1;
        c.C2 = d2;
        c.C3 = d3;
    }

    static void Step(float rowG, float rowG8, float col0, float col1, ref float d0, ref float d1, ref float d2,
        ref float d3)
    {
        d0 += rowG * col0;
        d1 += rowG * col1;
        d2 += rowG8 * col0;
        d3 += rowG8 * col1;
    }
}
