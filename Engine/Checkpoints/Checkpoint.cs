using Engine.Distributed;
using System.Text.Json;
using System.Text.Json.Nodes;
using Engine.Kernels;
using Engine.Model;
using Engine.Tokenizers;
using Engine.Training;
using Engine.Data;

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
        if (!Dist.IsRoot) return;                 // a data-parallel run's ranks hold the same weights: rank 0 writes
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
                SafeTensors.Write(Path.Combine(tmp, "optimizer.safetensors"), moments, new Dictionary<string,
                    string> { ["step"] = optimizer.Step.ToString() });
            }
            if (trainerState is not null)
                File.WriteAllText(Path.Combine(tmp, "trainer_state.json"), trainerState.Text(indented: true));
            Replace(tmp, full);
        }
        catch
        {
            if (Directory.Exists(tmp)) Directory.Delete(tmp, true);
            throw;
        }
    }

    /// <summary>
    /// Puts the finished temp folder in place. Over an existing checkpoint the two folders are swapped
    /// atomically (Linux renameat2 RENAME_EXCHANGE), so the name never points at nothing; where that is
    /// not available, two renames, and <see cref="CleanStale"/> restores a kill between them.
    /// </summary>
    static void Replace(string tmp, string target)
    {
        if (!Directory.Exists(target)) { Directory.Move(tmp, target); return; }
        if (Exchange(tmp, target)) { Directory.Delete(tmp, true); return; }
        string old = $"{target}.old-{Guid.NewGuid():N}";
        Directory.Move(target, old);
        Directory.Move(tmp, target);
        Directory.Delete(old, true);
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "renameat2", SetLastError = true)]
    static extern int RenameAt2(int oldDir, string oldPath, int newDir, string newPath, uint flags);

    static bool Exchange(string a, string b)
    {
        if (!OperatingSystem.IsLinux()) return false;
        const int AtFdCwd = -100;
        const uint RenameExchange = 2;
        try { return RenameAt2(AtFdCwd, a, AtFdCwd, b, RenameExchange) == 0; }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException) { return false; }
    }

    /// <summary>
    /// What a killed save leaves in a run folder: `X.tmp-*` folders (a checkpoint half written: removed)
    /// and `X.old-*` folders (the previous X, between the two renames: put back if X is missing, else
    /// removed), and `*.tmp` files.
    /// </summary>
    public static void CleanStale(string runDir)
    {
        if (!Dist.IsRoot || !Directory.Exists(runDir)) return;
        foreach (var dir in Directory.GetDirectories(runDir))
        {
            string name = Path.GetFileName(dir);
            int tmp = name.IndexOf(".tmp-", StringComparison.Ordinal), old = name.IndexOf(".old-", StringComparison.Ordinal);
            if (tmp > 0) Directory.Delete(dir, true);
            else if (old > 0)
            {
                string target = Path.Combine(runDir, name[..old]);
                if (Directory.Exists(target)) Directory.Delete(dir, true);
                else Directory.Move(dir, target);
            }
        }
        foreach (var file in Directory.GetFiles(runDir, "*.tmp")) File.Delete(file);
    }

    /// <summary>Loads the model (and the tokenizer beside it) from an engine or Hugging Face checkpoint folder.</summary>
    /// <param name="flag">The option that named the folder, for error messages (--checkpoint, --resume, --teacher, ...).</param>
    public static (Transformer Model, ITokenizer Tokenizer) Load(string dir, IBackend backend, string flag = "--checkpoint")
    {
        var model = LoadModel(dir, backend, flag: flag);
        var cfg = model.Config;
        string tokPath = Path.Combine(dir, "tokenizer.json");
        // A Hugging Face GPT-2 folder has its own tokenizer.json (not ours): the GPT-2 BPE is the same vocabulary.
        ITokenizer tokenizer = IsEngineTokenizer(tokPath) ? Tokenizer.Load(tokPath)
            : cfg.VocabSize == 50257 ? new Gpt2Tokenizer()
            : throw new InvalidDataException($"checkpoint: {dir} has no engine tokenizer.json and vocab_size " +
                $"{cfg.VocabSize} is not GPT-2's");
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
    public static Transformer LoadModel(string dir, IBackend backend, bool withValueHead = false, int seed = 0,
        string flag = "--checkpoint")
    {
        if (!Directory.Exists(dir)) throw new ArgumentException($"{flag} {dir}: no such folder");
        if (!File.Exists(Path.Combine(dir, "config.json")))
            throw new ArgumentException($"{flag} {dir}: not a checkpoint (no config.json)");
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
                throw new InvalidDataException($"checkpoint: tensor '{name}' has shape " +
                    $"{ShapeException.Format(entry.Shape)} but config.json implies " +
                    $"{ShapeException.Format(param.Shape)}");
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

    /// <summary>
    /// Restores a run from one of its checkpoints: optimiser moments and step, and the RNG; returns the
    /// step to continue from. The checkpoint must have been written by the same verb.
    /// </summary>
    public static int Resume(string dir, AdamW optimizer, Rng rng, string verb)
    {
        var state = ResumeState(dir, verb);
        LoadOptimizer(dir, optimizer);
        rng.State = state["rng"]!.GetValue<string>();
        int step = state["step"]!.GetValue<int>();
        Console.WriteLine($"resuming from {dir} at step {step}");
        return step;
    }

    /// <summary>The trainer state of a checkpoint that <paramref name="verb"/> can resume, or one clear error.</summary>
    public static JsonObject ResumeState(string dir, string verb)
    {
        if (!Directory.Exists(dir)) throw new ArgumentException($"--resume {dir}: no such folder");
        var state = LoadTrainerState(dir)
            ?? throw new ArgumentException($"--resume {dir}: no trainer_state.json (not a training checkpoint)");
        string? kind = state["kind"]?.GetValue<string>();
        if (kind != verb)
            throw new ArgumentException($"--resume {dir}: a checkpoint of `engine {kind ?? "?"}`, not of `engine {verb}`; " +
                                        $"to start a new {verb} run from its weights use --checkpoint {dir}");
        if (state["step"] is null || state["rng"] is null)
            throw new ArgumentException($"--resume {dir}: trainer_state.json lacks step or rng");
        return state;
    }

    public static JsonObject? LoadTrainerState(string dir)
    {
        string path = Path.Combine(dir, "trainer_state.json");
        if (!File.Exists(path)) return null;
        try { return JsonNode.Parse(File.ReadAllText(path)) as JsonObject; }
        catch (JsonException e) { throw new InvalidDataException($"{path}: not valid JSON ({e.Message})"); }
    }
}
