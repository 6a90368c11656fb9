using Engine.Autograd;
using Engine.Kernels;

namespace Engine.Model;

/// <summary>
/// The decoder-only transformer, GPT-2 or Llama/Qwen2 flavoured by its <see cref="ModelConfig"/>:
///   GPT-2:       x = wte[ids] + wpe[pos];  LayerNorm;  attention(q,k,v with bias);  GELU MLP;  tied head
///   Llama/Qwen2: x = embed[ids];  RMSNorm;  RoPE on q,k;  grouped-query attention;  SwiGLU MLP
/// Each block is pre-norm: x += attn(norm1(x)); x += mlp(norm2(x)). With a <see cref="KvCache"/> the
/// same forward runs incrementally (generation); without one it records the graph for training.
/// Parameters carry Hugging Face names (Llama's; GPT-2's are mapped in <see cref="Checkpoint"/>).
/// </summary>
public sealed class Transformer
{
    public sealed class Layer
    {
        public required Tensor Norm1W, Norm2W, Wq, Wk, Wv, Wo, Up, Down;
        public Tensor? Norm1B, Norm2B, Bq, Bk, Bv, Bo, UpB, DownB, Gate;   // biases (GPT-2/Qwen2), gate (Llama)
    }

    public ModelConfig Config { get; }
    public IBackend Backend { get; }
    public Tensor Embed { get; }
    public Tensor? Positions { get; }                 // GPT-2's learned positions
    public Layer[] Layers { get; }
    public Tensor NormW { get; }
    public Tensor? NormB { get; }
    public Tensor? LmHead { get; }                    // null when tied to Embed
    public Tensor? ValueW { get; }
    public Tensor? ValueB { get; }

    /// <summary>Every parameter by its (Llama-style) name, in a fixed order.</summary>
    public IReadOnlyList<(string Name, Tensor Param)> Named { get; }

    public Transformer(ModelConfig config, IBackend backend, int seed)
    {
        config.Validate();
        Config = config;
        Backend = backend;
        var init = new Init(backend, seed);
        int C = config.Hidden, I = config.Intermediate, kvC = config.KvHeads * config.HeadDim;
        float std = 0.02f, residualStd = 0.02f / MathF.Sqrt(2 * config.Layers);
        bool gpt2 = config.IsGpt2;
        var named = new List<(string, Tensor)>();
        Tensor P(string name, Tensor t) { t.Name = name; named.Add((name, t)); return t; }
        Tensor? Opt(bool present, string name, Func<Tensor> make) => present ? P(name, make()) : null;

        Embed = P("model.embed_tokens.weight", init.Normal(std, config.VocabSize, C));
        Positions = Opt(gpt2, "model.embed_positions.weight", () => init.Normal(0.01f, config.MaxPositions, C));
        Layers = new Layer[config.Layers];
        for (int i = 0; i < config.Layers; i++)
        {
            string p = $"model.layers.{i}.";
            Layers[i] = new Layer
            {
                Norm1W = P(p + "input_layernorm.weight", init.Ones(C)),
                Norm1B = Opt(gpt2, p + "input_layernorm.bias", () => init.Zeros(C)),
                Wq = P(p + "self_attn.q_proj.weight", init.Normal(std, C, C)),
                Bq = Opt(config.QkvBias, p + "self_attn.q_proj.bias", () => init.Zeros(C)),
                Wk = P(p + "self_attn.k_proj.weight", init.Normal(std, kvC, C)),
                Bk = Opt(config.QkvBias, p + "self_attn.k_proj.bias", () => init.Zeros(kvC)),
                Wv = P(p + "self_attn.v_proj.weight", init.Normal(std, kvC, C)),
                Bv = Opt(config.QkvBias, p + "self_attn.v_proj.bias", () => init.Zeros(kvC)),
                Wo = P(p + "self_attn.o_proj.weight", init.Normal(residualStd, C, C)),
                Bo = Opt(gpt2, p + "self_attn.o_proj.bias", () => init.Zeros(C)),
                Norm2W = P(p + "post_attention_layernorm.weight", init.Ones(C)),
                Norm2B = Opt(gpt2, p + "post_attention_layernorm.bias", () => init.Zeros(C)),
                Gate = Opt(!gpt2, p + "mlp.gate_proj.weight", () => init.Normal(std, I, C)),
                Up = P(p + "mlp.up_proj.weight", init.Normal(std, I, C)),
                UpB = Opt(gpt2, p + "mlp.up_proj.bias", () => init.Zeros(I)),
                Down = P(p + "mlp.down_proj.weight", init.Normal(residualStd, C, I)),
                DownB = Opt(gpt2, p + "mlp.down_proj.bias", () => init.Zeros(C)),
            };
        }
        NormW = P("model.norm.weight", init.Ones(C));
        NormB = Opt(gpt2, "model.norm.bias", () => init.Zeros(C));
        LmHead = Opt(!config.TieEmbeddings, "lm_head.weight", () => init.Normal(std, config.VocabSize, C));
        ValueW = Opt(config.ValueHead, "v_head.summary.weight", () => init.Normal(std, 1, C));
        ValueB = Opt(config.ValueHead, "v_head.summary.bias", () => init.Zeros(1));
        Named = named;
        Pack(backend, named);
    }

    /// <summary>
    /// Lays the parameters end to end, decayed and not decayed apart, with their gradients likewise, where the backend
    /// can (a GPU; the CPU keeps separate arrays): AdamW then updates each group in one launch (<see cref="AdamW"/>).
    /// </summary>
    static void Pack(IBackend backend, List<(string Name, Tensor Param)> named)
    {
        foreach (bool decay in new[] { true, false })
        {
            var group = named.Where(n => Decays(n.Name, n.Param) == decay).Select(n => n.Param).ToList();
            if (group.Count < 2) continue;
            var sizes = group.Select(p => p.Size).ToList();
            var data = backend.AllocateContiguous(sizes);
            if (backend.Join(data) is null) return;                     // no contiguous storage on this backend
            var grads = new ContiguousGrads(backend, sizes);
            for (int i = 0; i < group.Count; i++) group[i].MoveTo(data[i], grads, i);
        }
    }

    public IEnumerable<Tensor> Parameters => Named.Select(n => n.Param);

    /// <summary>Weight decay applies to projection matrices only, not to norms, biases or embeddings.</summary>
    public static bool Decays(string name, Tensor t) => t.Shape.Length == 2 && !name.Contains("embed");

    public long ParameterCount => Named.Sum(n => (long)n.Param.Size);

    /// <summary>
    /// A new model on the same backend with this one's weights (copied on the device): a frozen
    /// reference, or, with <paramref name="withValueHead"/>, a critic whose value head starts fresh from
    /// <paramref name="seed"/> when this model has none.
    /// </summary>
    public Transformer Clone(bool withValueHead = false, int seed = 0)
    {
        var copy = new Transformer(Config with { ValueHead = Config.ValueHead || withValueHead }, Backend, seed);
        var mine = Named.ToDictionary(n => n.Name, n => n.Param);
        foreach (var (name, param) in copy.Named)
            if (mine.TryGetValue(name, out var source)) Backend.Copy(source.Data, param.Data);
        return copy;
    }

    /// <summary>
    /// ids [B·T] (row-major [B, T]) → final hidden states [B, T, C]. positions [B·T] defaults to
    /// 0..T−1 per row. With a cache, k and v are written at those positions and attention reads
    /// the cache (inference only: call under GradMode.Disable()).
    /// </summary>
    public Tensor Hidden(int[] ids, int batch, int steps, KvCache? cache = null, int[]? positions = null)
    {
        var cfg = Config;
        positions ??= Ops.SequencePositions(batch, steps);
        int limit = cache?.MaxSteps ?? cfg.MaxPositions;
        foreach (int p in positions)
            if (p >= limit || p >= cfg.MaxPositions)
                throw new ArgumentException($"transformer: position {p} is beyond the context of " +
                    $"{Math.Min(limit, cfg.MaxPositions)} tokens");
        var x = Ops.Embedding(Embed, ids, batch, steps);
        if (Positions is not null) x = Ops.Add(x, Ops.Embedding(Positions, positions, batch, steps));
        for (int i = 0; i < Layers.Length; i++) x = Block(i, x, positions, cache);
        return Norm(x, NormW, NormB);
    }

    /// <summary>
    /// ids and positions [R] already on the device (the device-resident decode loop): one new token per row at its
    /// position → final hidden states [R, 1, C]. Inference only, with a cache; no host array goes in.
    /// </summary>
    public Tensor HiddenAt(DeviceInts ids, DeviceInts positions, KvCache cache)
    {
        var decode = RowPositions.Decode(Backend);
        int R = ids.Length, C = Config.Hidden;
        var x = Tensor.Zeros(Backend, R, 1, C);
        decode.Embedding(ids, Embed.Data, x.Data, Config.VocabSize, C);
        if (Positions is not null)
        {
            var p = Tensor.Zeros(Backend, R, 1, C);
            decode.Embedding(positions, Positions.Data, p.Data, Config.MaxPositions, C);
            x = Ops.Add(x, p);
        }
        var at = RowPositions.OnDevice(positions);
        for (int i = 0; i < Layers.Length; i++) x = Block(i, x, at, cache);
        return Norm(x, NormW, NormB);
    }

    /// <summary>Block i: x [B, T, C] → x + attn(norm1(x)), then + mlp(norm2(·)).</summary>
    public Tensor Block(int i, Tensor x, RowPositions positions, KvCache? cache = null)
    {
        var cfg = Config;
        var L = Layers[i];
        var h = Norm(x, L.Norm1W, L.Norm1B);
        var q = Ops.Linear(h, L.Wq, L.Bq);
        var k = Ops.Linear(h, L.Wk, L.Bk);
        var v = Ops.Linear(h, L.Wv, L.Bv);
        if (!cfg.IsGpt2)
        {
            q = positions.Rope(q, cfg.Heads, cfg.RopeTheta);
            k = positions.Rope(k, cfg.KvHeads, cfg.RopeTheta);
        }
        var attn = cache is null
            ? positions.Device is null ? Ops.Attention(q, k, v, cfg.Heads, cfg.KvHeads)
                : throw new ArgumentException("transformer: positions on the device need a kv cache")
            : cache.Attend(i, q, k, v, positions);
        x = Ops.Add(x, Ops.Linear(attn, L.Wo, L.Bo));
        h = Norm(x, L.Norm2W, L.Norm2B);
        h = cfg.IsGpt2
            ? Ops.Gelu(Ops.Linear(h, L.Up, L.UpB))
            : Ops.SwiGlu(Ops.Linear(h, L.Gate!), Ops.Linear(h, L.Up));
        return Ops.Add(x, Ops.Linear(h, L.Down, L.DownB));
    }

    Tensor Norm(Tensor x, Tensor w, Tensor? b) =>
        b is not null ? Ops.LayerNorm(x, w, b, Config.NormEps) : Ops.RmsNorm(x, w, Config.NormEps);

    /// <summary>hidden [..., C] → logits [..., V] (the head tied to the embedding unless configured otherwise).</summary>
    public Tensor Logits(Tensor hidden) => Ops.Linear(hidden, LmHead ?? Embed);

    /// <summary>ids [B·T] → logits [B, T, V].</summary>
    public Tensor Forward(int[] ids, int batch, int steps) => Logits(Hidden(ids, batch, steps));

    /// <summary>hidden [B, T, C] → scalar values [B, T] from the value head.</summary>
    public Tensor Values(Tensor hidden)
    {
        if (ValueW is null) throw new InvalidOperationException("transformer: this model has no value head (config value_head: true)");
        var v = Ops.Linear(hidden, ValueW, ValueB);
        return Ops.Reshape(v, hidden.Shape[..^1]);
    }
}
