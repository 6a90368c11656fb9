using Engine.Autograd;

namespace Engine.Model;

/// <summary>
/// One GPT-2 transformer block, pre-LayerNorm:
///   x = x + c_proj(attention(ln_1(x)))      attention: causal, multi-head
///   x = x + mlp_proj(gelu(c_fc(ln_2(x))))
/// q, k, v come from three projections (HF GPT-2 fuses them into c_attn; a checkpoint loader
/// splits that matrix). The residual projections start at std 0.02/√(2·layers), as GPT-2 does.
/// </summary>
public sealed class Gpt2Block
{
    public readonly Tensor Ln1W, Ln1B, Wq, Bq, Wk, Bk, Wv, Bv, AttnProjW, AttnProjB;
    public readonly Tensor Ln2W, Ln2B, FcW, FcB, MlpProjW, MlpProjB;
    public int Channels { get; }
    public int Heads { get; }

    public Gpt2Block(Init init, int channels, int heads, int layers)
    {
        if (channels % heads != 0) throw new ArgumentException($"gpt2 block: channels {channels} must be a multiple of heads {heads}");
        Channels = channels;
        Heads = heads;
        int C = channels;
        float std = 0.02f, residualStd = 0.02f / MathF.Sqrt(2 * layers);
        Ln1W = init.Ones(C); Ln1B = init.Zeros(C);
        Wq = init.Normal(std, C, C); Bq = init.Zeros(C);
        Wk = init.Normal(std, C, C); Bk = init.Zeros(C);
        Wv = init.Normal(std, C, C); Bv = init.Zeros(C);
        AttnProjW = init.Normal(residualStd, C, C); AttnProjB = init.Zeros(C);
        Ln2W = init.Ones(C); Ln2B = init.Zeros(C);
        FcW = init.Normal(std, 4 * C, C); FcB = init.Zeros(4 * C);
        MlpProjW = init.Normal(residualStd, C, 4 * C); MlpProjB = init.Zeros(C);
    }

    /// <summary>x [B, T, C] → [B, T, C].</summary>
    public Tensor Forward(Tensor x)
    {
        var h = Ops.LayerNorm(x, Ln1W, Ln1B);
        var q = Ops.Linear(h, Wq, Bq);
        var k = Ops.Linear(h, Wk, Bk);
        var v = Ops.Linear(h, Wv, Bv);
        var attn = Ops.Attention(q, k, v, Heads, Heads);
        x = Ops.Add(x, Ops.Linear(attn, AttnProjW, AttnProjB));
        h = Ops.LayerNorm(x, Ln2W, Ln2B);
        h = Ops.Gelu(Ops.Linear(h, FcW, FcB));
        return Ops.Add(x, Ops.Linear(h, MlpProjW, MlpProjB));
    }

    public IEnumerable<Tensor> Matrices => [Wq, Wk, Wv, AttnProjW, FcW, MlpProjW];
    public IEnumerable<Tensor> NormsAndBiases => [Ln1W, Ln1B, Bq, Bk, Bv, AttnProjB, Ln2W, Ln2B, FcB, MlpProjB];
}
