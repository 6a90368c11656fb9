using Engine.Checkpoints;
using Engine.Distributed;
using Engine.Kernels;
using Engine.Model;
using Engine.Tokenizers;

namespace Engine.Cli;

/// <summary>Turns --checkpoint / --model / --tokenizer / --device into a model, its tokenizer and a backend.</summary>
static class ModelSetup
{
    public static (IBackend Device, IBackend Backend, TimingBackend? Timing) Backend(CommonOptions o, bool profile)
    {
        Check.AtLeast(o.DecodeChunk, 0, "--decode-chunk");
        bool graphs = o.CudaGraphs.ToLowerInvariant() switch
        {
            "on" => true,
            "off" => false,
            _ => throw new ArgumentException($"--cuda-graphs must be on or off, got '{o.CudaGraphs}'"),
        };
        var be = Engine.Backend.Create(o.Device, o.Precision, deviceTiming: profile);
        if (be is IDeviceDecode decode) (decode.DecodeChunk, decode.CudaGraphs) = (o.DecodeChunk, graphs);
        Console.WriteLine($"device: {be.Name}");
        var timing = profile ? new TimingBackend(be) : null;
        return (be, timing ?? be, timing);
    }

    /// <param name="from">The checkpoint to load (default: --checkpoint); null with <see cref="ModelOptions"/> makes a fresh model.</param>
    /// <param name="flag">The option that named <paramref name="from"/>, for error messages.</param>
    public static (Transformer Model, ITokenizer Tokenizer) Create(CheckpointOptions o, IBackend backend, string? from = null,
        string flag = "--checkpoint")
    {
        from ??= o.Checkpoint;
        Transformer model;
        ITokenizer tokenizer;
        if (from is not null)
            (model, tokenizer) = Checkpoint.Load(from, backend, flag);
        else if (o is ModelOptions m)
        {
            tokenizer = Tokenizers.Tokenizer.Create(m.Tokenizer);
            if (m.Context < 2) throw new ArgumentException($"--context must be >= 2, got {m.Context}");
            var cfg = File.Exists(m.Model) ? ModelConfig.Load(m.Model) : ModelConfig.Preset(m.Model, tokenizer.VocabSize, m.Context);
            if (cfg.VocabSize < tokenizer.VocabSize)
                throw new ArgumentException($"--model: vocab_size {cfg.VocabSize} is smaller than the {m.Tokenizer} " +
                                            $"tokenizer's {tokenizer.VocabSize} ids");
            model = new Transformer(cfg, backend, o.Seed);
        }
        else throw new ArgumentException($"{CliErrors.VerbName(o)}: --checkpoint DIR is required");
        Shard.BroadcastParameters(model.Named.Select(n => n.Param));     // data-parallel: every rank from rank 0's bits
        var c = model.Config;
        Console.WriteLine($"model: {c.Type.ToString().ToLowerInvariant()} {c.Layers} layers, d={c.Hidden}, {c.Heads} heads " +
                          $"({c.KvHeads} kv), context {c.MaxPositions}, {model.ParameterCount:N0} parameters; " +
                          $"tokenizer {tokenizer.Kind} ({tokenizer.VocabSize} ids)");
        return (model, tokenizer);
    }
}
