using System.Text;

namespace Engine.Kernels.Gpu;

/// <summary>
/// Builds the inline-PTX text of the register-resident tensor-core kernels. Their MMA state (accumulators, A and B
/// fragments) lives in registers the PTX itself declares by name (<c>.reg .f32 tcc&lt;64&gt;;</c>), and every
/// instruction on them is an input-only <c>CudaAsm.Emit</c>: ILGPU never holds that state, so it cannot move it
/// through local memory, as it does with the out/ref operands of <c>CudaAsm.EmitRef</c>. ILGPU needs each Emit's
/// text to be a constant it can read while compiling (a string literal or a static readonly string field), so the
/// kernels keep these strings in static readonly fields built once, at type initialisation, by loops here (ILGPU
/// does not unroll loops; the PTX is unrolled as text instead). Names carry no '%': ILGPU reads %n as its own
/// argument n, and its own registers all start with '%', so ours cannot collide with them.
/// </summary>
public static class MmaPtx
{
    /// <summary>The m16n8k8 TF32 MMA with fp32 accumulate, D = A·B + C in place on C.</summary>
    public const string MmaOp = "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32";

    /// <summary><c>.reg .TYPE name&lt;count&gt;;</c>: PTX's parameterised declaration of name0 ..
    /// name{count-1}.</summary>
    public static string Declare(string type, string name, int count) => $".reg .{type} {name}<{count}>;\n";

    /// <summary>Sets acc0 .. acc{count-1} to +0.</summary>
    public static string Zero(string acc, int count)
    {
        var s = new StringBuilder();
        for (int i = 0; i < count; i++) s.Append($"mov.f32 {acc}{i}, 0f00000000;\n");
        return s.ToString();
    }

    /// <summary>One MMA: accumulators c{c0..c0+3} += A fragment a{a0..a0+3} · B fragment b{b0, b0+1}.</summary>
    public static string Mma(string c, int c0, string a, int a0, string b, int b0) =>
        $"{MmaOp} {{{c}{c0},{c}{c0 + 1},{c}{c0 + 2},{c}{c0 + 3}}}, {{{a}{a0},{a}{a0 + 1},{a}{a0 + 2},{a}{a0 + 3}}}, " +
        $"{{{b}{b0},{b}{b0 + 1}}}, {{{c}{c0},{c}{c0 + 1},{c}{c0 + 2},{c}{c0 + 3}}};\n";

    /// <summary>The three MMAs of 3×TF32 in the order of <see cref="TensorCore.Mma3"/>'s twin: lo·hi, hi·lo,
    /// hi·hi (the small terms first).</summary>
    public static string Mma3(string c, int c0, string aHi, string aLo, int a0, string bHi, string bLo, int b0) =>
        Mma(c, c0, aLo, a0, bHi, b0) + Mma(c, c0, aHi, a0, bLo, b0) + Mma(c, c0, aHi, a0, bHi, b0);

    /// <summary>hi{first+i} = tf32(%i) for inputs 0 .. count-1 (cvt.rna: what <see cref="TensorCore.RoundTf32"/>
    /// does), and with <paramref name="lo"/> also lo{first+i} = tf32(%i − hi) (the 3×TF32 split; x − hi is exact in
    /// fp32).</summary>
    public static string Round(string hi, string? lo, int first, int count)
    {
        var s = new StringBuilder("{\n.reg .f32 tcrem;\n");
        for (int i = 0; i < count; i++)
        {
            s.Append($"cvt.rna.tf32.f32 {hi}{first + i}, %{i};\n");
            if (lo is null) continue;
            s.Append($"sub.rn.f32 tcrem, %{i}, {hi}{first + i};\n");
            s.Append($"cvt.rna.tf32.f32 {lo}{first + i}, tcrem;\n");
        }
        return s.Append("}\n").ToString();
    }
}
