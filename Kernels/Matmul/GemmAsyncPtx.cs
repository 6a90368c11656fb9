using System.Text;
using static Engine.Kernels.Matmul.GemmRegsPtx;

namespace Engine.Kernels.Matmul;

/// <summary>
/// The inline PTX of GEMM v10/v11 (<see cref="MatmulTf32AsyncGpu"/>) that v8's texts (GemmRegsAsm: Init, Mma,
/// Mma3, Store, StoreAdd, on the same registers) do not have: the cp.async copies and their group fences, and the
/// fragment loads from shared memory straight into the PTX-declared fragment registers (tca/tcal, tcb/tcbl, see
/// <see cref="GemmRegsPtx"/>), rounded to TF32 (or split hi + lo) in place. Shared addresses are byte offsets into
/// the group's one shared array, which ILGPU names <c>__shared_alloca0</c> in its PTX (the first allocation; not
/// documented, TensorCorePtxTests checks the name and size in the generated PTX); <c>mov.u32 r, __shared_alloca0</c>
/// gives its shared-window address. Layouts and lane offsets are MatmulTf32AsyncGpu's.
/// </summary>
static class GemmAsyncPtx
{
    /// <summary>The texts GemmAsyncAsm.g.cs holds as constants (PtxText).</summary>
    internal static IReadOnlyList<(string Name, string Text)> Texts() =>
    [
        (nameof(Copy), Copy), (nameof(CopyWord), CopyWord), (nameof(Commit), Commit), (nameof(Wait), Wait),
        (nameof(LoadAMatrix), LoadAMatrix), (nameof(SplitAMatrix), SplitAMatrix),
        (nameof(LoadAScalar), LoadAScalar), (nameof(SplitAScalar), SplitAScalar),
        (nameof(LoadBMatrix), LoadBMatrix), (nameof(SplitBMatrix), SplitBMatrix),
        (nameof(LoadBScalar), LoadBScalar), (nameof(SplitBScalar), SplitBScalar),
    ];

    /// <summary>The shared array's symbol in ILGPU's PTX.</summary>
    public const string Shared = "__shared_alloca0";

    const string Base = "mov.u32 tcsa, " + Shared + ";\nadd.u32 tcsa, tcsa, %0;\n";

    /// <summary>One 16-byte cp.async: %0 = shared byte offset (u32), %1 = global address (u64), %2 = bytes to read
    /// (16, or 0: the 16 shared bytes are zero-filled and global memory is not read).</summary>
    internal static readonly string Copy = "{\n.reg .u32 tcsa;\n" + Base +
                                           "cp.async.cg.shared.global [tcsa], [%1], 16, %2;\n}\n";

    /// <summary>One 4-byte cp.async (for operands not readable in aligned 16-byte chunks): %0 = shared byte offset,
    /// %1 = global address, %2 = 4 or 0 (zero-fill). .ca: .cg takes 16 bytes only.</summary>
    internal static readonly string CopyWord = "{\n.reg .u32 tcsa;\n" + Base +
                                               "cp.async.ca.shared.global [tcsa], [%1], 4, %2;\n}\n";

    internal static readonly string Commit = "cp.async.commit_group;\n";

    /// <summary>Waits until at most one committed group is in flight (the pipeline's newest); a barrier
    /// follows.</summary>
    internal static readonly string Wait = "cp.async.wait_group 1;\n";

    /// <summary>A's fragments of the 4 m16 tiles by ldmatrix (K contiguous in shared memory): %0 = byte offset of
    /// this lane's row address for tile 0; tile i is 1024 bytes (16 rows of 64) further.</summary>
    internal static readonly string LoadAMatrix = Matrix(A, null), SplitAMatrix = Matrix(A, ALo);

    /// <summary>B's fragments of the 4 n8 tiles by two ldmatrix.x4 (B stored [N][K]): %0 = this lane's row address
    /// for n-tiles 0, 1; tiles 2, 3 are 1024 bytes further.</summary>
    internal static readonly string LoadBMatrix = Matrix(B, null), SplitBMatrix = Matrix(B, BLo);

    /// <summary>A's fragments by scalar ld.shared (K-major shared tile [k][m]): %0 = byte offset of the warp's slice,
    /// %1..%4 = the lane's offsets L0..L3 (MatmulTf32AsyncGpu.Scalar); element (k row e2·4 + t, column 8u + g)
    /// lies at L(u % 4) + 128·(u / 4) + 2048·e2.</summary>
    internal static readonly string LoadAScalar = Scalar(A, null), SplitAScalar = Scalar(A, ALo);

    /// <summary>B's fragments by scalar ld.shared (K-major [k][n]), the same addressing with u = n-tile j.</summary>
    internal static readonly string LoadBScalar = Scalar(B, null), SplitBScalar = Scalar(B, BLo);

    static string Matrix(string hi, string? lo)
    {
        var s = new StringBuilder("{\n.reg .u32 tcsa;\n.reg .f32 tcrem;\n").Append(Base);
        string dst = lo ?? hi;
        int count = hi == A ? 16 : 8;
        for (int r = 0; r < count; r += 4)
            s.Append($"ldmatrix.sync.aligned.m8n8.x4.shared.b16 {{{dst}{r},{dst}{r + 1},{dst}{r + 2},{dst}{r + 3}}}, " +
                     $"[tcsa+{256 * r}];\n");
        return Round(s, hi, lo, count);
    }

    static string Scalar(string hi, string? lo)
    {
        var s = new StringBuilder("{\n.reg .u32 tcsa, tcq<4>;\n.reg .f32 tcrem;\n").Append(Base);
        for (int q = 0; q < 4; q++) s.Append($"add.u32 tcq{q}, tcsa, %{q + 1};\n");
        string dst = lo ?? hi;
        if (hi == A)
            for (int i = 0; i < 4; i++)
                for (int e = 0; e < 4; e++)   // a0 (g, t), a1 (g + 8, t), a2 (g, t + 4), a3 (g + 8, t + 4)
                {
                    int u = 2 * i + (e & 1);
                    s.Append($"ld.shared.f32 {dst}{4 * i + e}, [tcq{u & 3}+{128 * (u >> 2) + 2048 * (e >> 1)}];\n");
                }
        else
            for (int j = 0; j < 4; j++)
                for (int e = 0; e < 2; e++)   // b0 (t, g), b1 (t + 4, g)
                    s.Append($"ld.shared.f32 {dst}{2 * j + e}, [tcq{j}+{2048 * e}];\n");
        return Round(s, hi, lo, hi == A ? 16 : 8);
    }

    /// <summary>Rounds the loaded registers to TF32 in place (cvt.rna), or splits them: hi = tf32(x), lo = tf32(x −
    /// hi), x having been loaded into lo.</summary>
    static string Round(StringBuilder s, string hi, string? lo, int count)
    {
        for (int r = 0; r < count; r++)
            if (lo is null) s.Append($"cvt.rna.tf32.f32 {hi}{r}, {hi}{r};\n");
            else
                s.Append($"cvt.rna.tf32.f32 {hi}{r}, {lo}{r};\nsub.rn.f32 tcrem, {lo}{r}, {hi}{r};\n" +
                         $"cvt.rna.tf32.f32 {lo}{r}, tcrem;\n");
        return s.Append("}\n").ToString();
    }
}
