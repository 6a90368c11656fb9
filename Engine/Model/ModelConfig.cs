using System.Text.Json;
using System.Text.Json.Nodes;
using Engine.Data;

namespace Engine.Model;

public enum Architecture { Gpt2, Llama, Qwen2 }

/// <summary>
/// A model's shape, read from and written to a Hugging Face-style config.json: GPT-2's keys
/// (n_embd, n_layer, n_head, n_positions, n_inner, layer_norm_epsilon) or Llama/Qwen2's
/// (hidden_size, num_hidden_layers, num_attention_heads, num_key_value_heads, intermediate_size,
/// max_position_embeddings, rms_norm_eps, rope_theta, tie_word_embeddings, attention_bias).
/// "value_head": true adds the scalar head critics and reward models use (an engine key).
/// </summary>
public sealed record ModelConfig
{
    public Architecture Type { get; init; } = Architecture.Gpt2;
    public int VocabSize { get; init; }
    public int Hidden { get; init; } = 128;
    public int Layers { get; init; } = 4;
    public int Heads { get; init; } = 4;
    public int KvHeads { get; init; } = 4;
    public int Intermediate { get; init; } = 512;
    public int MaxPositions { get; init; } = 256;
    public float NormEps { get; init; } = 1e-5f;
    public float RopeTheta { get; init; } = 10000f;
    public bool TieEmbeddings { get; init; } = true;
    /// <summary>Bias on the q/k/v projections: always for GPT-2 and Qwen2, optional for Llama.</summary>
    public bool QkvBias { get; init; } = true;
    public bool ValueHead { get; init; }

    public int HeadDim => Hidden / Heads;
    public bool IsGpt2 => Type == Architecture.Gpt2;

    /// <summary>The CPU-sized presets. vocab comes from the tokenizer.</summary>
    public static ModelConfig Preset(string name, int vocab, int maxPositions = 256) => name.ToLowerInvariant() switch
    {
        "tiny" or "tiny-gpt2" => new() { Type = Architecture.Gpt2, VocabSize = vocab, Hidden = 128, Layers = 4,
            Heads = 4, KvHeads = 4, Intermediate = 512, MaxPositions = maxPositions, NormEps = 1e-5f },
        "micro" => new() { Type = Architecture.Gpt2, VocabSize = vocab, Hidden = 64, Layers = 2, Heads = 4,
            KvHeads = 4, Intermediate = 256, MaxPositions = maxPositions, NormEps = 1e-5f },
        "tiny-llama" => new() { Type = Architecture.Llama, VocabSize = vocab, Hidden = 128, Layers = 4, Heads = 4,
            KvHeads = 2, Intermediate = 344, MaxPositions = maxPositions, NormEps = 1e-6f, QkvBias = false,
            TieEmbeddings = false },
        "micro-llama" => new() { Type = Architecture.Llama, VocabSize = vocab, Hidden = 64, Layers = 2, Heads = 4,
            KvHeads = 2, Intermediate = 172, MaxPositions = maxPositions, NormEps = 1e-6f, QkvBias = false,
            TieEmbeddings = false },
        "tiny-qwen2" => new() { Type = Architecture.Qwen2, VocabSize = vocab, Hidden = 128, Layers = 4, Heads = 4,
            KvHeads = 2, Intermediate = 344, MaxPositions = maxPositions, NormEps = 1e-6f, QkvBias = true,
            TieEmbeddings = true },
        // GPT-2 small's shape (Radford et al. 2019; what llm.c trains): use it with --tokenizer gpt2 --context 1024.
        "gpt2-124m" => new() { Type = Architecture.Gpt2, VocabSize = Math.Max(vocab, 50257), Hidden = 768, Layers = 12, Heads = 12,
            KvHeads = 12, Intermediate = 3072, MaxPositions = maxPositions, NormEps = 1e-5f },
        _ => throw new ArgumentException($"--model {name}: unknown preset; expected " +
            $"{string.Join(", ", PresetNames)} or a config.json path"),
    };

    public static readonly string[] PresetNames = ["tiny", "micro", "tiny-llama", "micro-llama", "tiny-qwen2", "gpt2-124m"];

    public void Validate()
    {
        void Need(bool ok, string what) { if (!ok) throw new InvalidDataException($"config: {what}"); }
        Need(VocabSize > 0, $"vocab_size must be positive, got {VocabSize}");
        Need(Hidden > 0 && Layers > 0 && Heads > 0 && KvHeads > 0, "hidden size, layers and heads must be positive");
        Need(Hidden % Heads == 0, $"hidden size {Hidden} is not a multiple of {Heads} heads");
        Need(Heads % KvHeads == 0, $"{Heads} heads is not a multiple of {KvHeads} key/value heads");
        Need(Intermediate > 0 && MaxPositions > 0, "intermediate size and max positions must be positive");
        Need(IsGpt2 || HeadDim % 2 == 0, $"RoPE needs an even head size, got {HeadDim}");
        Need(!IsGpt2 || KvHeads == Heads, "gpt2 has no grouped-query heads");
        // A tensor holds at most int.MaxValue elements; say which one would not fit rather than overflow.
        foreach (var (name, elements) in LargestTensors())
            Need(elements <= int.MaxValue, $"{name} would have {elements:N0} elements, more than a tensor can hold " +
                                           $"({int.MaxValue:N0}); make the model, vocabulary or context smaller");
    }

    IEnumerable<(string Name, double Elements)> LargestTensors()
    {
        int kvDim = KvHeads * (Hidden / Math.Max(1, Heads));
        yield return ("the token embedding (vocab_size × hidden)", (double)VocabSize * Hidden);
        yield return ("the positions × hidden activations (and GPT-2's position embedding)", (double)MaxPositions * Hidden);
        yield return ("the attention projection (hidden × (hidden + 2·kv))", (double)Hidden * (Hidden + 2.0 * kvDim));
        yield return ("the MLP projection (hidden × intermediate × 2)", 2.0 * Hidden * Intermediate);
    }

    // ---- config.json ---------------------------------------------------------------------------

    public static ModelConfig Load(string path)
    {
        if (!File.Exists(path)) throw new ArgumentException($"config: {path}: no such file");
        JsonNode? root;
        try { root = JsonNode.Parse(File.ReadAllText(path)); }
        catch (JsonException e) { throw new InvalidDataException($"config: {path}: not valid JSON ({e.Message})"); }
        if (root is not JsonObject o) throw new InvalidDataException($"config: {path}: expected a JSON object");
        return FromJson(o, path);
    }

    public static ModelConfig FromJson(JsonObject o, string source = "config.json")
    {
        string type = o["model_type"]?.GetValue<string>() ?? throw new InvalidDataException($"config: {source}: no model_type");
        int Int(string key, int? fallback = null) =>
            o[key] is JsonValue v && v.TryGetValue(out int i) ? i
            : fallback ?? throw new InvalidDataException($"config: {source}: missing integer '{key}'");
        float Float(string key, float fallback) => o[key] is JsonValue v && v.TryGetValue(out double d) ? (float)d : fallback;
        bool Bool(string key, bool fallback) => o[key] is JsonValue v && v.TryGetValue(out bool b) ? b : fallback;

        ModelConfig c = type switch
        {
            "gpt2" => new()
            {
                Type = Architecture.Gpt2, VocabSize = Int("vocab_size"), Hidden = Int("n_embd"), Layers = Int("n_layer"),
                Heads = Int("n_head"), KvHeads = Int("n_head"), MaxPositions = Int("n_positions"),
                Intermediate = o["n_inner"] is JsonValue ni && ni.TryGetValue(out int inner) ? inner : 4 * Int("n_embd"),
                NormEps = Float("layer_norm_epsilon", 1e-5f), TieEmbeddings = Bool("tie_word_embeddings", true), QkvBias = true,
            },
            "llama" or "qwen2" => new()
            {
                Type = type == "llama" ? Architecture.Llama : Architecture.Qwen2, VocabSize = Int("vocab_size"),
                Hidden = Int("hidden_size"), Layers = Int("num_hidden_layers"), Heads = Int("num_attention_heads"),
                KvHeads = Int("num_key_value_heads", Int("num_attention_heads")), Intermediate = Int("intermediate_size"),
                MaxPositions = Int("max_position_embeddings"), NormEps = Float("rms_norm_eps", 1e-6f),
                RopeTheta = Float("rope_theta", 10000f), TieEmbeddings = Bool("tie_word_embeddings", false),
                QkvBias = type == "qwen2" || Bool("attention_bias", false),
            },
            _ => throw new InvalidDataException($"config: {source}: model_type '{type}' is not supported (gpt2, llama, qwen2)"),
        };
        c = c with { ValueHead = Bool("value_head", false) };
        c.Validate();
        return c;
    }

    public JsonObject ToJson()
    {
        var o = IsGpt2
            ? new JsonObject
            {
                ["model_type"] = "gpt2", ["architectures"] = new JsonArray("GPT2LMHeadModel"), ["vocab_size"] = VocabSize,
                ["n_embd"] = Hidden, ["n_layer"] = Layers, ["n_head"] = Heads, ["n_positions"] = MaxPositions, ["n_ctx"] = MaxPositions,
                ["n_inner"] = Intermediate, ["activation_function"] = "gelu_new", ["layer_norm_epsilon"] = NormEps,
                ["tie_word_embeddings"] = TieEmbeddings,
            }
            : new JsonObject
            {
                ["model_type"] = Type == Architecture.Llama ? "llama" : "qwen2",
                ["architectures"] = new JsonArray(Type == Architecture.Llama ? "LlamaForCausalLM" : "Qwen2ForCausalLM"),
                ["vocab_size"] = VocabSize, ["hidden_size"] = Hidden, ["num_hidden_layers"] = Layers,
                ["num_attention_heads"] = Heads, ["num_key_value_heads"] = KvHeads, ["intermediate_size"] = Intermediate,
                ["max_position_embeddings"] = MaxPositions, ["rms_norm_eps"] = NormEps, ["rope_theta"] = RopeTheta,
                ["tie_word_embeddings"] = TieEmbeddings, ["attention_bias"] = QkvBias, ["hidden_act"] = "silu",
            };
        o["torch_dtype"] = "float32";
        if (ValueHead) o["value_head"] = true;
        return o;
    }

    public void Save(string path) => File.WriteAllText(path, ToJson().Text(indented: true));
}
