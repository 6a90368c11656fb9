namespace Engine.Checkpoints;

/// <summary>
/// Our parameter names follow Llama's Hugging Face names. GPT-2's checkpoints differ: other names
/// ("transformer.h.0.ln_1.weight"), a fused q/k/v projection (c_attn) and Conv1D weights stored
/// [in, out]. This maps between the two layouts, both ways, with or without the "transformer." prefix.
/// </summary>
static class HfNames
{
    /// <summary>Our (name, [out,in] data) → GPT-2's tensors. q, k, v of a layer fuse into c_attn.</summary>
    public static IEnumerable<(string Name, int[] Shape, float[] Data)> ToGpt2(IReadOnlyDictionary<string,
        (int[] Shape, float[] Data)> ours, int layers)
    {
        foreach (var (name, (shape, data)) in ours)
        {
            if (name.Contains(".self_attn.q_proj.") || name.Contains(".self_attn.k_proj.") || name.Contains(".self_attn.v_proj.")) continue;
            var (hf, conv1d) = Gpt2Name(name);
            yield return conv1d ? (hf, [shape[1], shape[0]], Transpose(data, shape[0], shape[1])) : (hf, shape, data);
        }
        for (int i = 0; i < layers; i++)
        {
            string p = $"model.layers.{i}.self_attn.";
            var (qs, q) = ours[p + "q_proj.weight"]; var (_, k) = ours[p + "k_proj.weight"]; var (_, v) = ours[p + "v_proj.weight"];
            int C = qs[1];
            float[] fused = [.. q, .. k, .. v];                                   // [3C, C] as (out, in)
            yield return ($"transformer.h.{i}.attn.c_attn.weight", [C, 3 * C], Transpose(fused, 3 * C, C));
            yield return ($"transformer.h.{i}.attn.c_attn.bias", [3 * C],
                [.. ours[p + "q_proj.bias"].Data, .. ours[p + "k_proj.bias"].Data, .. ours[p + "v_proj.bias"].Data]);
        }
    }

    /// <summary>GPT-2's tensors (either prefix) → our names and [out, in] layout; c_attn splits into q, k, v.</summary>
    public static Dictionary<string, SafeTensors.Entry> FromGpt2(Dictionary<string, SafeTensors.Entry> hf, int layers)
    {
        var byName = hf.ToDictionary(kv => kv.Key.StartsWith("transformer.") ? kv.Key : "transformer." + kv.Key, kv => kv.Value);
        var ours = new Dictionary<string, SafeTensors.Entry>();
        foreach (var (key, entry) in byName)
        {
            if (key.EndsWith(".attn.bias") || key.EndsWith(".attn.masked_bias")) continue;   // causal-mask buffers of old checkpoints
            if (key.Contains(".attn.c_attn.")) continue;
            if (key == "transformer.lm_head.weight") { ours["lm_head.weight"] = entry; continue; }
            var (name, conv1d) = OurName(key);
            ours[name] = conv1d && entry.Shape.Length == 2
                ? new SafeTensors.Entry([entry.Shape[1], entry.Shape[0]], Transpose(entry.Data, entry.Shape[0], entry.Shape[1]))
                : entry;
        }
        for (int i = 0; i < layers; i++)
        {
            string h = $"transformer.h.{i}.attn.c_attn.";
            if (!byName.TryGetValue(h + "weight", out var w) || w.Shape.Length != 2 || w.Shape[1] % 3 != 0)
                throw new InvalidDataException($"checkpoint: tensor '{h}weight' is missing or is not [C, 3C]");
            int C = w.Shape[0], n = w.Shape[1] / 3;
            var fused = Transpose(w.Data, C, 3 * n);                           // [3n, C]
            string p = $"model.layers.{i}.self_attn.";
            ours[p + "q_proj.weight"] = new([n, C], fused[..(n * C)]);
            ours[p + "k_proj.weight"] = new([n, C], fused[(n * C)..(2 * n * C)]);
            ours[p + "v_proj.weight"] = new([n, C], fused[(2 * n * C)..]);
            if (byName.TryGetValue(h + "bias", out var b))
            {
                if (b.Data.Length != 3 * n)
                    throw new InvalidDataException($"checkpoint: tensor '{h}bias' has shape " +
                        $"[{string.Join(", ", b.Shape)}], expected [{3 * n}]");
                ours[p + "q_proj.bias"] = new([n], b.Data[..n]);
                ours[p + "k_proj.bias"] = new([n], b.Data[n..(2 * n)]);
                ours[p + "v_proj.bias"] = new([n], b.Data[(2 * n)..]);
            }
        }
        return ours;
    }

    static readonly (string Ours, string Gpt2, bool Conv1d)[] LayerMap =
    [
        ("input_layernorm.weight", "ln_1.weight", false), ("input_layernorm.bias", "ln_1.bias", false),
        ("self_attn.o_proj.weight", "attn.c_proj.weight", true), ("self_attn.o_proj.bias", "attn.c_proj.bias", false),
        ("post_attention_layernorm.weight", "ln_2.weight", false), ("post_attention_layernorm.bias", "ln_2.bias", false),
        ("mlp.up_proj.weight", "mlp.c_fc.weight", true), ("mlp.up_proj.bias", "mlp.c_fc.bias", false),
        ("mlp.down_proj.weight", "mlp.c_proj.weight", true), ("mlp.down_proj.bias", "mlp.c_proj.bias", false),
    ];

    static readonly (string Ours, string Gpt2)[] TopMap =
    [
        ("model.embed_tokens.weight", "transformer.wte.weight"), ("model.embed_positions.weight", "transformer.wpe.weight"),
        ("model.norm.weight", "transformer.ln_f.weight"), ("model.norm.bias", "transformer.ln_f.bias"),
        ("lm_head.weight", "lm_head.weight"), ("v_head.summary.weight", "v_head.summary.weight"),
            ("v_head.summary.bias", "v_head.summary.bias"),
    ];

    static (string Name, bool Conv1d) Gpt2Name(string ours)
    {
        foreach (var (o, g) in TopMap) if (o == ours) return (g, false);
        if (ours.StartsWith("model.layers."))
        {
            int dot = ours.IndexOf('.', "model.layers.".Length);
            string layer = ours["model.layers.".Length..dot], rest = ours[(dot + 1)..];
            foreach (var (o, g, conv) in LayerMap) if (o == rest) return ($"transformer.h.{layer}.{g}", conv);
        }
        throw new InvalidOperationException($"checkpoint: no GPT-2 name for parameter '{ours}'");
    }

    static (string Name, bool Conv1d) OurName(string gpt2)
    {
        foreach (var (o, g) in TopMap) if (g == gpt2) return (o, false);
        if (gpt2.StartsWith("transformer.h."))
        {
            int dot = gpt2.IndexOf('.', "transformer.h.".Length);
            string layer = gpt2["transformer.h.".Length..dot], rest = gpt2[(dot + 1)..];
            foreach (var (o, g, conv) in LayerMap) if (g == rest) return ($"model.layers.{layer}.{o}", conv);
        }
        if (gpt2.StartsWith("transformer.v_head.")) return (gpt2["transformer.".Length..], false);
        throw new InvalidDataException($"checkpoint: unexpected GPT-2 tensor '{gpt2}'");
    }

    static float[] Transpose(float[] x, int rows, int cols)
    {
        var y = new float[x.Length];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
                y[c * rows + r] = x[r * cols + c];
        return y;
    }
}
