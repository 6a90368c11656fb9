using System.Text;
using Engine.Kernels.Gpu;

namespace Engine.Kernels.Attention;

/// <summary>
/// The inline PTX of attention forward v5/v6 (<see cref="FlashRegisters"/>). A warp owns 16 query rows; lane
/// g·4 + t holds rows g and g + 8 of each m16n8 fragment (columns 2t, 2t + 1). Registers, declared once at the top
/// of the kernel:
/// <list type="bullet">
/// <item>tss0 .. tss15: the 16 × 32 score block S, key fragment f (keys 8f .. 8f+7) at 4f (C0..C3);</item>
/// <item>tco0 .. tco63: the 16 × Dp output accumulator, column tile j at 4j (tiles past D/8 unused);</item>
/// <item>tfa0..3 (tfal: 3×TF32 remainders): one A fragment; tfb0..7 (tfbl): four B fragments, n-tile i at
/// 2i.</item>
/// </list>
/// 3×TF32 issues hi·lo, lo·hi, then hi·hi per tile: the order of v3/v4's FlashTc.Step, which the twin runs.
/// </summary>
static class FlashRegsPtx
{
    public const string S = "tss", O = "tco", A = "tfa", ALo = "tfal", B = "tfb", BLo = "tfbl";

    internal static IReadOnlyList<(string Name, string Text)> Texts()
    {
        var list = new List<(string, string)>
        {
            ("Init", MmaPtx.Declare("f32", S, 16) + MmaPtx.Declare("f32", O, 64) + MmaPtx.Declare("b32", A, 4) +
                     MmaPtx.Declare("b32", ALo, 4) + MmaPtx.Declare("b32", B, 8) + MmaPtx.Declare("b32", BLo, 8) +
                     MmaPtx.Zero(O, 64)),
            ("ZeroS", MmaPtx.Zero(S, 16)),
            ("LoadA", MmaPtx.Round(A, null, 0, 4)), ("SplitA", MmaPtx.Round(A, ALo, 0, 4)),
            ("LoadB", MmaPtx.Round(B, null, 0, 8)), ("SplitB", MmaPtx.Round(B, BLo, 0, 8)),
            ("MmaS", Mmas(S, 0, false)), ("MmaS3", Mmas(S, 0, true)),
        };
        for (int q = 0; q < 4; q++)
        {
            list.Add(($"MmaO{q}", Mmas(O, 16 * q, false)));
            list.Add(($"MmaO3{q}", Mmas(O, 16 * q, true)));
            list.Add(($"ScaleO{q}", Scale(q)));
            list.Add(($"StoreO{q}", Store(q)));
        }
        for (int i = 0; i < 16; i++) list.Add(($"S{i}", $"mov.f32 %0, {S}{i};\n"));
        return list;
    }

    /// <summary>Four MMAs: c{c0 + 4f} += A · B fragment f (f = 0..3).</summary>
    internal static string Mmas(string c, int c0, bool three)
    {
        var s = new StringBuilder();
        for (int f = 0; f < 4; f++)
        {
            if (three)
            {
                s.Append(MmaPtx.Mma(c, c0 + 4 * f, A, 0, BLo, 2 * f));
                s.Append(MmaPtx.Mma(c, c0 + 4 * f, ALo, 0, B, 2 * f));
            }
            s.Append(MmaPtx.Mma(c, c0 + 4 * f, A, 0, B, 2 * f));
        }
        return s.ToString();
    }

    /// <summary>Output tiles 4q .. 4q+3: row g times %0, row g + 8 times %1.</summary>
    static string Scale(int q)
    {
        var s = new StringBuilder();
        for (int j = 4 * q; j < 4 * q + 4; j++)
            for (int e = 0; e < 4; e++)
                s.Append($"mul.rn.f32 {O}{4 * j + e}, {O}{4 * j + e}, %{e / 2};\n");
        return s.ToString();
    }

    /// <summary>Stores output tiles 4q .. 4q+3: %0 / %1 = addresses of row g / g + 8 at column 32q + 2t (u64);
    /// %2 = mask, bit 2·(j − 4q) + c for column 8j + 2t + c of row g, the same + 8 for row g + 8.</summary>
    static string Store(int q)
    {
        var s = new StringBuilder("{\n.reg .pred tfp;\n.reg .b32 tfm;\n");
        for (int row = 0; row < 2; row++)
            for (int jj = 0; jj < 4; jj++)
                for (int c = 0; c < 2; c++)
                {
                    int bit = 8 * row + 2 * jj + c, reg = 4 * (4 * q + jj) + 2 * row + c;
                    s.Append($"and.b32 tfm, %2, {1 << bit};\nsetp.ne.b32 tfp, tfm, 0;\n");
                    s.Append($"@tfp st.global.f32 [%{row}+{4 * (8 * jj + c)}], {O}{reg};\n");
                }
        return s.Append("}\n").ToString();
    }
}
