using System.Text.Json;
using System.Text.Json.Nodes;
using Engine.Kernels;
using Engine.Model;
using Engine.Tokenizers;
using Engine.Training;

namespace Engine.Checkpoints;

/// <summary>
/// A checkpoint folder, loadable by Hugging Face transformers:
///   model.safetensors   weights with HF names (GPT-2's layout for gpt2, Llama's for llama/qwen2)
///   config.json         the model's shape
///   tokenizer.json      the engine's tokenizer description
///   optimizer.safetensors, trainer_state.json   for resuming (moments, step, RNG state)
/// It is written into a temporary folder which is then renamed over the target, so a crash never
/// leaves a half-written checkpoint behind.
/// </summary>
public static class Checkpoint
{
    public static void Save(string dir, Transformer model, ITokenizer tokenizer, AdamW? optimizer = null, JsonObject? trainerState = null)
    {
        string full = Path.GetFullPath(dir.TrimEnd('/', '\\'));
        string tmp = $"{full}.tmp-{Guid.NewGuid():N}";
        Directory.CreateDirectory(tmp);
        try
        {
            var cfg = model.Config;
            var ours = model.Named.ToDictionary(n => n.Name, n => (n.Param.Shape, n.Param.ToArray()));
            IEnumerable<(string, int[], float[])> tensors = cfg.IsGpt2
                ? HfNames.ToGpt2(ours, cfg.Layers)
                : ours.Select(kv => (kv.Key, kv.Value.Shape, kv.Value.Item2));
            SafeTensors.Write(Path.Combine(tmp, "model.safetensors"), tensors.OrderBy(t => t.Item1, StringComparer.Ordinal));
            cfg.Save(Path.Combine(tmp, "config.json"));
            Tokenizer.Save(tokenizer, Path.Combine(tmp, "tokenizer.json"));
            if (optimizer is not null)
            {
                var moments = optimizer.Moments.SelectMany(m => new[]
                {
                    (m.Param.Name + ".exp_avg", m.Param.Shape, m.M.ToArray()),
                    (m.Param.Name + ".exp_avg_sq", m.Param.Shape, m.V.ToArray()),
                });
                SafeTensors.Write(Path.Combine(tmp, "optimizer.safetensors"), moments, new Dictionary<string, string> { ["step"] = optimizer.Step.ToString() });
            }
            if (trainerState is not null)
                File.WriteAllText(Path.Combine(tmp, "trainer_state.json"), trainerState.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            Replace(tmp, full);
        }
        catch
        {
            if (Directory.Exists(tmp)) Directory.Delete(tmp, true);
            throw;
        }
    }

    static void Replace(string tmp, string target)
    {
        if (!Directory.Exists(target)) { Directory.Move(tmp, target); return; }
        string old = $"{target}.old-{Guid.NewGuid():N}";
        Directory.Move(target, old);
        Directory.Move(tmp, target);
        Directory.Delete(old, true);
    }

    /// <summary>Loads the model (and the tokenizer beside it) from an engine or Hugging Face checkpoint folder.</summary>
    public static (Transformer Model, ITokenizer Tokenizer) Load(string dir, IBackend backend)
    {
        var model = LoadModel(dir, backend);
        var cfg = model.Config;
        string tokPath = Path.Combine(dir, "tokenizer.json");
        // A Hugging Face GPT-2 folder has its own tokenizer.json (not ours): the GPT-2 BPE is the same vocabulary.
        ITokenizer tokenizer = IsEngineTokenizer(tokPath) ? Tokenizer.Load(tokPath)
            : cfg.VocabSize == 50257 ? new Gpt2Tokenizer()
            : throw new InvalidDataException($"checkpoint: {dir} has no engine tokenizer.json and vocab_size {cfg.VocabSize} is not GPT-2's");
        if (tokenizer.VocabSize > cfg.VocabSize)
            throw new InvalidDataException($"checkpoint: the tokenizer has {tokenizer.VocabSize} ids but the model only {cfg.VocabSize}");
        return (model, tokenizer);
    }

    /// <summary>Whether the checkpoint in <paramref name="dir"/> carries a value head (a reward model or a critic).</summary>
    public static bool HasValueHead(string dir) => ModelConfig.Load(Path.Combine(dir, "config.json")).ValueHead;

    /// <summary>
    /// The weights alone: config.json + model.safetensors, every tensor checked against the config.
    /// withValueHead: add a freshly initialised value head when the checkpoint has none (a critic or a
    /// reward model started from a policy).
    /// </summary>
    public static Transformer LoadModel(string dir, IBackend backend, bool withValueHead = false, int seed = 0)
    {
        if (!Directory.Exists(dir)) throw new ArgumentException($"--checkpoint {dir}: no such folder");
        var cfg = ModelConfig.Load(Path.Combine(dir, "config.json"));
        if (withValueHead) cfg = cfg with { ValueHead = true };
        var model = new Transformer(cfg, backend, seed);
        var file = SafeTensors.Read(Path.Combine(dir, "model.safetensors"));
        var tensors = cfg.IsGpt2 ? HfNames.FromGpt2(file, cfg.Layers) : file;
        foreach (var (name, param) in model.Named)
        {
            if (!tensors.TryGetValue(name, out var entry))
            {
                if (withValueHead && name.StartsWith("v_head.")) continue;      // keeps its fresh initialisation
                throw new InvalidDataException($"checkpoint: tensor '{name}' is missing from model.safetensors");
            }
            if (!entry.Shape.SequenceEqual(param.Shape))
                throw new InvalidDataException($"checkpoint: tensor '{name}' has shape {ShapeException.Format(entry.Shape)} but config.json implies {ShapeException.Format(param.Shape)}");
            param.Data.CopyFrom(entry.Data);
        }
        return model;
    }

    /// <summary>Each parameter's current gradient under its Hugging Face name and layout (GPT-2's Conv1D included).</summary>
    public static Dictionary<string, (int[] Shape, float[] Data)> HfGradients(Transformer model)
    {
        var grads = model.Named.ToDictionary(n => n.Name, n => (n.Param.Shape, n.Param.Grad?.ToArray() ?? new float[n.Param.Size]));
        return model.Config.IsGpt2
            ? HfNames.ToGpt2(grads, model.Config.Layers).ToDictionary(t => t.Name, t => (t.Shape, t.Data))
            : grads;
    }

    static bool IsEngineTokenizer(string path)
    {
        if (!File.Exists(path)) return false;
        try { return JsonNode.Parse(File.ReadAllText(path))?["type"]?.GetValue<string>() is "char" or "gpt2"; }
        catch (Exception e) when (e is JsonException or InvalidOperationException) { return false; }
    }

    /// <summary>Restores the optimiser moments and step saved beside the weights (resuming a run).</summary>
    public static void LoadOptimizer(string dir, AdamW optimizer)
    {
        string path = Path.Combine(dir, "optimizer.safetensors");
        var file = SafeTensors.Read(path);
        foreach (var (param, m, v) in optimizer.Moments)
        {
            if (!file.TryGetValue(param.Name + ".exp_avg", out var em) || !file.TryGetValue(param.Name + ".exp_avg_sq", out var ev))
                throw new InvalidDataException($"checkpoint: optimizer.safetensors has no moments for '{param.Name}'");
            m.CopyFrom(em.Data);
            v.CopyFrom(ev.Data);
        }
        optimizer.Step = ReadStep(path);
    }

    static int ReadStep(string path)
    {
        using var f = File.OpenRead(path);
        var len = new byte[8];
        f.ReadExactly(len);
        var header = new byte[BitConverter.ToUInt64(len)];
        f.ReadExactly(header);
        return int.Parse(JsonNode.Parse(header)!["__metadata__"]!["step"]!.GetValue<string>());
    }

    /// <summary>Restores a run from one of its checkpoints: optimiser moments and step, and the RNG; returns the step to continue from.</summary>
    public static int Resume(string dir, AdamW optimizer, Rng rng)
    {
        var state = LoadTrainerState(dir) ?? throw new ArgumentException($"--resume {dir}: no trainer_state.json (not a training checkpoint)");
        LoadOptimizer(dir, optimizer);
        rng.State = state["rng"]!.GetValue<string>();
        int step = state["step"]!.GetValue<int>();
        Console.WriteLine($"resuming from {dir} at step {step}");
        return step;
    }

    public static JsonObject? LoadTrainerState(string dir)
    {
        string path = Path.Combine(dir, "trainer_state.json");
        return File.Exists(path) ? JsonNode.Parse(File.ReadAllText(path)) as JsonObject : null;
    }
}
