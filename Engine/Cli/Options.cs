using CommandLine;

namespace Engine.Cli;

/// <summary>What every verb accepts: positional words are not options of any verb, so they are refused (see Program).</summary>
abstract class VerbOptions
{
    [Value(0, Hidden = true)]
    public IEnumerable<string> Stray { get; set; } = [];
}

/// <summary>Options every verb that runs a model takes.</summary>
abstract class CommonOptions : VerbOptions
{
    [Option("seed", Default = 1, HelpText = "Seed for everything random in the run (initial weights, data order, sampling).")]
    public int Seed { get; set; }
    [Option("device", Default = "auto", HelpText = "auto | cpu | cuda | opencl | ilgpu-cpu | ilgpu-cpu32.")]
    public string Device { get; set; } = "auto";
    [Option("precision", Default = "fp32",
        HelpText = "GPU matmul/attention arithmetic: fp32 | tf32 (tensor cores, 10-bit mantissa inputs) | " +
            "3xtf32 (tensor cores, fp32-class).")]
    public string Precision { get; set; } = "fp32";
    [Option("decode-chunk", Default = 16,
        HelpText = "GPU sampling: decode steps per host round trip (the sampled ids stay on the device between; " +
            "the same completions for any value); 0 = one round trip per step.")]
    public int DecodeChunk { get; set; }
    [Option("cuda-graphs", Default = "on",
        HelpText = "on | off: replay each GPU decode step from a CUDA graph (CUDA devices; falls back to plain " +
            "launches with a warning if capture fails).")]
    public string CudaGraphs { get; set; } = "on";
}

/// <summary>Verbs that read an existing model: --checkpoint only.</summary>
abstract class CheckpointOptions : CommonOptions
{
    [Option("checkpoint", HelpText = "A checkpoint folder (the engine's or a Hugging Face GPT-2/Llama/Qwen2 one).")]
    public string? Checkpoint { get; set; }
}

/// <summary>How a training verb names its model: an existing checkpoint, or a fresh one from a preset or config.json.</summary>
abstract class ModelOptions : CheckpointOptions
{
    [Option("model", Default = "tiny",
        HelpText = "For a fresh model: a preset (tiny, micro, tiny-llama, micro-llama, tiny-qwen2, gpt2-124m) or a config.json path.")]
    public string Model { get; set; } = "tiny";
    [Option("tokenizer", Default = "char",
        HelpText = "For a fresh model: char (with the reasoning markers) or gpt2 (BPE, 50,257 ids).")]
    public string Tokenizer { get; set; } = "char";
    [Option("context", Default = 128, HelpText = "For a fresh model from a preset: context length (positions).")]
    public int Context { get; set; }
}

/// <summary>Where a training run writes, and how it continues.</summary>
interface IRunOptions
{
    string? Out { get; }
    bool Overwrite { get; }
}

/// <summary>Options of the next-token training verbs (pretrain, sft).</summary>
abstract class TrainOptions : ModelOptions, IRunOptions
{
    [Option("out", HelpText = "Run folder: metrics.jsonl, checkpoint-N/, final/, summary.json. " +
                              "Default: a new runs/VERB, runs/VERB-2, ... (with --resume: the checkpoint's run folder).")]
    public string? Out { get; set; }
    [Option("overwrite", Default = false, HelpText = "Replace the run already in --out (its metrics, checkpoints and summary).")]
    public bool Overwrite { get; set; }
    [Option("steps", Default = 300, HelpText = "Optimiser steps.")]
    public int Steps { get; set; }
    [Option("batch", Default = 8, HelpText = "Sequences per micro-batch.")]
    public int Batch { get; set; }
    [Option("grad-accum", Default = 1, HelpText = "Micro-batches per optimiser step (gradient accumulation).")]
    public int GradAccum { get; set; }
    [Option("lr", Default = 1e-3f, HelpText = "Peak learning rate (linear warm-up, cosine decay to 10%).")]
    public float Lr { get; set; }
    [Option("warmup", Default = 30, HelpText = "Warm-up steps.")]
    public int Warmup { get; set; }
    [Option("weight-decay", Default = 0.1f, HelpText = "AdamW decoupled weight decay (weight matrices only).")]
    public float WeightDecay { get; set; }
    [Option("clip", Default = 1f, HelpText = "Global gradient-norm clip (0 = off).")]
    public float Clip { get; set; }
    [Option("eval-every", Default = 50, HelpText = "Held-out loss every N steps (0 = only at the end).")]
    public int EvalEvery { get; set; }
    [Option("eval-batches", Default = 8, HelpText = "Held-out batches per evaluation.")]
    public int EvalBatches { get; set; }
    [Option("save-every", Default = 0,
        HelpText = "Checkpoint every N steps into OUT/checkpoint-N (0 = only OUT/final, and one on Ctrl-C).")]
    public int SaveEvery { get; set; }
    [Option("log-every", Default = 25, HelpText = "Without a terminal: print a line every N steps.")]
    public int LogEvery { get; set; }
    [Option("resume", HelpText = "Continue a run from one of its checkpoint folders (weights, optimiser, step, RNG).")]
    public string? Resume { get; set; }
    [Option("profile", Default = false, HelpText = "Time every backend primitive and print where the steps spent their time.")]
    public bool Profile { get; set; }
}
