using System.Text;
using Engine.Kernels.Gpu;

namespace Engine.Kernels.Matmul;

/// <summary>
/// The inline PTX of GEMM v8/v9 (<see cref="MatmulTf32RegGpu"/>): a warp's 64×32 sub-tile as 4 × 4 m16n8 tiles,
/// tile (i, j) at rows 16i, columns 8j. Registers (declared once, at the top of the kernel):
/// <list type="bullet">
/// <item>tcc0 .. tcc63: accumulators, tile (i, j)'s fragment at 4·(4i + j): C0 = (g, 2t), C1 = (g, 2t+1),
/// C2 = (g+8, 2t), C3 = (g+8, 2t+1) (PTX ISA fragment layout, g = lane / 4, t = lane % 4);</item>
/// <item>tca0 .. tca15 (and tcal for 3×TF32's remainders): A fragments, m-tile i at 4i;</item>
/// <item>tcb0 .. tcb7 (tcbl): B fragments, n-tile j at 2j.</item>
/// </list>
/// A thread's 64 outputs sit on 8 rows, row0 + 8k (k = 2i + h, h = 0 for C0/C1, 1 for C2/C3), and 8 columns,
/// col0 + 8(l / 2) + l % 2 (l = 2j + e, e = 0 for C0/C2, 1 for C1/C3).
/// </summary>
static class GemmRegsPtx
{
    /// <summary>The texts GemmRegsAsm.g.cs holds as constants (PtxText).</summary>
    internal static IReadOnlyList<(string Name, string Text)> Texts() =>
    [
        (nameof(Init), Init), (nameof(LoadA01), LoadA01), (nameof(LoadA23), LoadA23), (nameof(SplitA01), SplitA01),
        (nameof(SplitA23), SplitA23), (nameof(LoadB), LoadB), (nameof(SplitB), SplitB), (nameof(Mma), Mma),
        (nameof(Mma3), Mma3), (nameof(Store), Store), (nameof(StoreAdd), StoreAdd),
    ];

    public const string C = "tcc", A = "tca", ALo = "tcal", B = "tcb", BLo = "tcbl";

    /// <summary>Accumulator register of output row k, column l (see above).</summary>
    public static int AccIndex(int k, int l) => 4 * (4 * (k / 2) + l / 2) + 2 * (k % 2) + l % 2;

    /// <summary>Declarations and zeroed accumulators; must come before every other string here.</summary>
    internal static readonly string Init = MmaPtx.Declare("f32", C, 64) + MmaPtx.Declare("b32", A, 16) +
                                         MmaPtx.Declare("b32", ALo, 16) + MmaPtx.Declare("b32", B, 8) +
                                         MmaPtx.Declare("b32", BLo, 8) + MmaPtx.Zero(C, 64);

    /// <summary>A fragments of m-tiles 0, 1 (inputs %0..%7: A0..A3 of tile 0, then of tile 1) and 2, 3, rounded to
    /// TF32; the Split forms also write the remainders.</summary>
    internal static readonly string LoadA01 = MmaPtx.Round(A, null, 0, 8), LoadA23 = MmaPtx.Round(A, null, 8, 8);
    internal static readonly string SplitA01 = MmaPtx.Round(A, ALo, 0, 8), SplitA23 = MmaPtx.Round(A, ALo, 8, 8);

    /// <summary>B fragments of n-tiles 0..3 (inputs %0..%7: B0, B1 of tile 0, then 1, 2, 3).</summary>
    internal static readonly string LoadB = MmaPtx.Round(B, null, 0, 8), SplitB = MmaPtx.Round(B, BLo, 0, 8);

    /// <summary>The 16 MMAs of one K slice of 8 (TF32), or 48 (3×TF32).</summary>
    internal static readonly string Mma = Mmas(false), Mma3 = Mmas(true);

    static string Mmas(bool three)
    {
        var s = new StringBuilder();
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++)
                s.Append(three ? MmaPtx.Mma3(C, 4 * (4 * i + j), A, ALo, 4 * i, B, BLo, 2 * j)
                    : MmaPtx.Mma(C, 4 * (4 * i + j), A, 4 * i, B, 2 * j));
        return s.ToString();
    }

    /// <summary>Writes the 64 accumulators to C: %0 = address of (row0, col0) (u64), %1 = bytes between rows
    /// row0 and row0 + 8 (u64), %2 = row mask (bit k: row0 + 8k &lt; M), %3 = column mask (bit l: that column
    /// &lt; N); an output is written where both bits are set. The Add form adds C's old value (C += …).</summary>
    internal static readonly string Store = Stores(false), StoreAdd = Stores(true);

    static string Stores(bool add)
    {
        var s = new StringBuilder("{\n.reg .pred tcp, tcpc<8>;\n.reg .b32 tcm;\n.reg .b64 tcaddr;\n.reg .f32 tco;\n");
        for (int l = 0; l < 8; l++)
            s.Append($"and.b32 tcm, %3, {1 << l};\nsetp.ne.b32 tcpc{l}, tcm, 0;\n");
        s.Append("mov.b64 tcaddr, %0;\n");
        for (int k = 0; k < 8; k++)
        {
            if (k > 0) s.Append("add.s64 tcaddr, tcaddr, %1;\n");
            s.Append($"and.b32 tcm, %2, {1 << k};\n");
            for (int l = 0; l < 8; l++)
            {
                int bytes = 4 * (8 * (l / 2) + l % 2);
                string acc = C + AccIndex(k, l), at = $"[tcaddr+{bytes}]";
                s.Append($"setp.ne.and.b32 tcp, tcm, 0, tcpc{l};\n");
                if (add)
                    s.Append($"@tcp ld.global.f32 tco, {at};\n@tcp add.rn.f32 tco, tco, {acc};\n" +
                             $"@tcp st.global.f32 {at}, tco;\n");
                else
                    s.Append($"@tcp st.global.f32 {at}, {acc};\n");
            }
        }
        return s.Append("}\n").ToString();
    }
}
