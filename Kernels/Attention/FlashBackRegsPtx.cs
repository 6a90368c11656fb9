using System.Text;
using Engine.Kernels.Gpu;
using F = Engine.Kernels.Attention.FlashRegsPtx;

namespace Engine.Kernels.Attention;

/// <summary>
/// The inline PTX of attention backward v5/v6 (<see cref="FlashBackRegisters"/>). A warp owns 16 rows (keys in the
/// dK/dV pass, queries in the dQ pass); lane g·4 + t holds rows g and g + 8 of each m16n8 fragment. Registers,
/// declared once at the top of the kernel (InitKv: both accumulators, InitQ: X only):
/// <list type="bullet">
/// <item>tss0 .. tss15, tfa/tfal, tfb/tfbl: the score block and the fragments, named as the forward's
/// (<see cref="FlashRegsPtx"/>), so its score MMAs and loads (FlashRegsAsm) serve here too;</item>
/// <item>tbx0 .. tbx31: dK (dK/dV pass) or dQ (dQ pass), 16 × 64, column tile j at 4j;</item>
/// <item>tby0 .. tby31: dV (dK/dV pass).</item>
/// </list>
/// 32 accumulators each: the register form covers D ≤ 64; larger heads run v3/v4's kernels
/// (<see cref="AttentionBackwardV3"/>). Stores add to the gradient in memory: old + acc · scale, rounded
/// separately (mul.rn, add.rn: no fused multiply-add, as the twin computes).
/// </summary>
static class FlashBackRegsPtx
{
    public const string X = "tbx", Y = "tby";

    /// <summary>Accumulators per block: 16 rows × 64 columns over 32 lanes.</summary>
    public const int Count = 32;

    /// <summary>The largest head size (rounded up to 32) the register form holds.</summary>
    public const int MaxDp = 64;

    internal static IReadOnlyList<(string Name, string Text)> Texts()
    {
        string common = MmaPtx.Declare("f32", F.S, 16) + MmaPtx.Declare("b32", F.A, 4) +
                        MmaPtx.Declare("b32", F.ALo, 4) + MmaPtx.Declare("b32", F.B, 8) +
                        MmaPtx.Declare("b32", F.BLo, 8);
        var list = new List<(string, string)>
        {
            ("InitKv", common + MmaPtx.Declare("f32", X, Count) + MmaPtx.Declare("f32", Y, Count) +
                       MmaPtx.Zero(X, Count) + MmaPtx.Zero(Y, Count)),
            ("InitQ", common + MmaPtx.Declare("f32", X, Count) + MmaPtx.Zero(X, Count)),
        };
        foreach (string c in new[] { X, Y })
        {
            string n = c == X ? "X" : "Y";
            for (int q = 0; q < MaxDp / 32; q++)
            {
                list.Add(($"Mma{n}{q}", F.Mmas(c, 16 * q, false)));
                list.Add(($"Mma{n}3{q}", F.Mmas(c, 16 * q, true)));
                list.Add(($"Store{n}{q}", StoreAdd(c, q)));
            }
        }
        return list;
    }

    /// <summary>Adds tiles 4q .. 4q+3 of accumulator c, times %3 (f32), to memory: %0 / %1 = addresses of row g /
    /// g + 8 at column 32q + 2t (u64); %2 = mask, bit 2·(j − 4q) + e for column 8j + 2t + e of row g, the same + 8
    /// for row g + 8 (the forward's store mask, <see cref="FlashRegisters"/>).</summary>
    static string StoreAdd(string c, int q)
    {
        var s = new StringBuilder("{\n.reg .pred tfp;\n.reg .b32 tfm;\n.reg .f32 tfv;\n.reg .f32 tfw;\n");
        for (int row = 0; row < 2; row++)
            for (int jj = 0; jj < 4; jj++)
                for (int e = 0; e < 2; e++)
                {
                    int bit = 8 * row + 2 * jj + e, reg = 4 * (4 * q + jj) + 2 * row + e, at = 4 * (8 * jj + e);
                    s.Append($"and.b32 tfm, %2, {1 << bit};\nsetp.ne.b32 tfp, tfm, 0;\n");
                    s.Append($"@tfp ld.global.f32 tfw, [%{row}+{at}];\nmul.rn.f32 tfv, {c}{reg}, %3;\n");
                    s.Append($"@tfp add.rn.f32 tfv, tfw, tfv;\n@tfp st.global.f32 [%{row}+{at}], tfv;\n");
                }
        return s.Append("}\n").ToString();
    }
}
