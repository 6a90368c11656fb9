using Engine.Checkpoints;
using Engine.Kernels;
using Engine.Model;
using Engine.Tokenizers;

namespace Engine.Cli;

/// <summary>Turns --checkpoint / --model / --tokenizer / --device into a model, its tokenizer and a backend.</summary>
static class ModelSetup
{
    public static (IBackend Device, IBackend Backend, TimingBackend? Timing) Backend(string device, bool profile)
    {
        var be = Engine.Backend.Create(device);
        Console.WriteLine($"device: {be.Name}");
        var timing = profile ? new TimingBackend(be) : null;
        return (be, timing ?? be, timing);
    }

    public static (Transformer Model, ITokenizer Tokenizer) Create(ModelOptions o, IBackend backend, string? from = null)
    {
        from ??= o.Checkpoint;
        Transformer model;
        ITokenizer tokenizer;
        if (from is not null)
            (model, tokenizer) = Checkpoint.Load(from, backend);
        else
        {
            tokenizer = Tokenizers.Tokenizer.Create(o.Tokenizer);
            if (o.Context < 2) throw new ArgumentException($"--context must be >= 2, got {o.Context}");
            var cfg = File.Exists(o.Model) ? ModelConfig.Load(o.Model) : ModelConfig.Preset(o.Model, tokenizer.VocabSize, o.Context);
            if (cfg.VocabSize < tokenizer.VocabSize)
                throw new ArgumentException($"--model: vocab_size {cfg.VocabSize} is smaller than the {o.Tokenizer} tokenizer's {tokenizer.VocabSize} ids");
            model = new Transformer(cfg, backend, o.Seed);
        }
        var c = model.Config;
        Console.WriteLine($"model: {c.Type.ToString().ToLowerInvariant()} {c.Layers} layers, d={c.Hidden}, {c.Heads} heads ({c.KvHeads} kv), " +
                          $"context {c.MaxPositions}, {model.ParameterCount:N0} parameters; tokenizer {tokenizer.Kind} ({tokenizer.VocabSize} ids)");
        return (model, tokenizer);
    }
}
