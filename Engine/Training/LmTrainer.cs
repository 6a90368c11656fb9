using System.Diagnostics;
using System.Text.Json.Nodes;
using Engine.Autograd;
using Engine.Checkpoints;
using Engine.Data;
using Engine.Distributed;
using Engine.Model;
using Engine.Tokenizers;

namespace Engine.Training;

/// <summary>
/// A next-token training run: optimiser steps of GradAccum micro-batches of Batch sequences, clipped to
/// Clip, at Schedule's learning rate; held-out loss every EvalEvery steps (0: only at the end) over
/// EvalBatches; checkpoints every SaveEvery steps (0: only final/); written to Out, recorded as Kind.
/// </summary>
public sealed record LmTrainOptions
{
    public required int Steps { get; init; }
    public required LrSchedule Schedule { get; init; }
    public required string Out { get; init; }
    public required string Kind { get; init; }
    public int Batch { get; init; } = 8;
    public int GradAccum { get; init; } = 1;
    public float Clip { get; init; } = 1f;
    public int EvalEvery { get; init; }
    public int EvalBatches { get; init; } = 8;
    public int SaveEvery { get; init; }
    public int LogEvery { get; init; } = 25;
    public int Seed { get; init; } = 1;
}

public sealed record LmTrainResult(float FinalLoss, float EvalLossBefore, float EvalLoss, double Seconds,
    double TokensPerSecond, int Steps);

/// <summary>
/// The next-token training loop shared by pretraining and SFT: per step, GradAccum micro-batches
/// (each loss scaled by 1/GradAccum so the gradients sum to the mean), global-norm clipping, AdamW
/// at the scheduled learning rate. Logs a metrics.jsonl row per step, evaluates the held-out
/// batches every EvalEvery steps, and writes atomic checkpoints (weights, optimiser, step, RNG)
/// every SaveEvery steps and at the end. A NaN/Inf loss or gradient stops the run with a clear error.
/// </summary>
public static class LmTrainer
{
    public static LmTrainResult Train(Transformer model, ITokenizer tokenizer, AdamW optimizer, ILmData data, Rng rng,
        LmTrainOptions o, int startStep = 0)
    {
        // Data-parallel (under mpirun): --batch is per rank; the step draws the global batch and this rank keeps its
        // rows.
        int ranks = Dist.Size;
        var sync = Dist.World is { Size: > 1 } world ? new GradientAllReduce(world, optimizer.Parameters) : null;
        var eval = data.Eval(o.Batch * ranks, o.EvalBatches);
        float evalBefore = Evaluate(model, eval);
        float evalLoss = evalBefore;
        float loss = float.NaN;
        long tokens = 0;
        var clock = Stopwatch.StartNew();
        string? lastCheckpoint = null;
        using var run = new RunFolder(o.Out, resumeStep: startStep);
        Console.WriteLine($"{o.Kind}: held-out loss before step {startStep}: {evalBefore:F4}");
        Progress.Run(o.Kind, startStep, o.Steps, o.LogEvery, report =>
        {
            for (int step = startStep; step < o.Steps; step++)
            {
                var sw = Stopwatch.StartNew();
                optimizer.ZeroGrad();
                double stepLoss = 0;
                int stepTokens = 0;
                for (int micro = 0; micro < o.GradAccum; micro++)
                {
                    var global = data.Sample(rng, o.Batch * ranks);
                    var (first, count) = Shard.Mine(global.Batch);
                    var batch = sync is null ? global : Shard.Rows(global, first, count);
                    // This rank's mean over its counted tokens, weighted by its share of the global batch's: the ranks'
                    // losses (and gradients) sum to the one-process mean over the whole batch (SFT's rows differ in
                    // how many tokens count, so the share is of tokens, not of rows).
                    float share = sync is null ? 1f : (float)batch.CountedTokens / Math.Max(1, global.CountedTokens);
                    stepTokens += global.Batch * global.Steps;
                    if (share == 0f) continue;
                    var logits = model.Forward(batch.Inputs, batch.Batch, batch.Steps);
                    var l = Ops.CrossEntropy(logits, batch.Targets);
                    Ops.Scale(l, share / o.GradAccum).Backward();
                    stepLoss += l.Item() * share / o.GradAccum;
                }
                // Rank 0 writes a checkpoint only after this, so a checkpoint never holds a half-reduced step.
                if (sync is not null)
                    stepLoss = sync.Run([(float)stepLoss], $"the gradient all-reduce of step {step}")[0];
                float norm = GradClip.ClipGlobalNorm(optimizer.Parameters, o.Clip);
                loss = (float)stepLoss;
                if (!float.IsFinite(loss) || !float.IsFinite(norm))
                    throw new InvalidOperationException($"{o.Kind}: the " +
                        $"{(float.IsFinite(loss) ? "gradient norm" : "loss")} became " +
                        $"{(float.IsFinite(loss) ? norm : loss)} at step {step}; " +
                        (lastCheckpoint is null ? "no checkpoint was written yet"
                            : $"the last good checkpoint is {lastCheckpoint}") + "; try a lower --lr");
                float lr = o.Schedule.At(step);
                optimizer.Update(lr);
                tokens += stepTokens;
                double tps = stepTokens / sw.Elapsed.TotalSeconds;
                var row = new Dictionary<string, object>
                {
                    ["step"] = step, ["loss"] = loss, ["lr"] = lr, ["grad_norm"] = norm, ["tokens_per_s"] = Math.Round(tps, 1),
                };
                bool last = step == o.Steps - 1;
                if (o.EvalEvery > 0 && ((step + 1) % o.EvalEvery == 0 || last))
                {
                    evalLoss = Evaluate(model, eval);
                    row["eval/loss"] = evalLoss;
                }
                run.Log(row);
                int next = step + 1;
                lastCheckpoint = StepCheckpoint.After(step, o.Steps, o.SaveEvery,
                    () => Save(Path.Combine(o.Out, $"checkpoint-{next}"), model, tokenizer, optimizer, rng, next, o)) ?? lastCheckpoint;
                report(step, $"loss {loss:F4} eval {evalLoss:F4} lr {lr:E2} {tps:N0} tok/s");
            }
        });
        if (o.EvalEvery <= 0) evalLoss = Evaluate(model, eval);
        Save(Path.Combine(o.Out, "final"), model, tokenizer, optimizer, rng, o.Steps, o);
        double seconds = clock.Elapsed.TotalSeconds;
        var result = new LmTrainResult(loss, evalBefore, evalLoss, seconds, tokens / Math.Max(1e-9, seconds), o.Steps);
        run.WriteSummary(new Dictionary<string, object>
        {
            ["kind"] = o.Kind, ["steps"] = o.Steps, ["final_loss"] = loss, ["eval_loss_before"] = evalBefore, ["eval_loss"] = evalLoss,
            ["seconds"] = Math.Round(seconds, 2), ["tokens_per_s"] = Math.Round(result.TokensPerSecond, 1),
            ["parameters"] = model.ParameterCount, ["seed"] = o.Seed, ["checkpoint"] = Path.Combine(o.Out, "final"),
        });
        return result;
    }

    static string Save(string dir, Transformer model, ITokenizer tokenizer, AdamW optimizer, Rng rng, int step, LmTrainOptions o)
    {
        var state = new JsonObject { ["kind"] = o.Kind, ["step"] = step, ["rng"] = rng.State, ["seed"] = o.Seed };
        Checkpoint.Save(dir, model, tokenizer, optimizer, state);
        return dir;
    }

    /// <summary>Mean cross-entropy over the batches (no grad); data-parallel, each rank scores its rows of each batch
    /// and the sums and counts are added over the ranks.</summary>
    public static float Evaluate(Transformer model, IReadOnlyList<LmBatch> batches)
    {
        using var _ = GradMode.Disable();
        double sum = 0;
        int count = 0;
        foreach (var global in batches)
        {
            var (first, rows) = Shard.Mine(global.Batch);
            var b = Dist.Size > 1 ? Shard.Rows(global, first, rows) : global;
            int n = b.CountedTokens;
            if (n == 0) continue;
            sum += (double)Ops.CrossEntropy(model.Forward(b.Inputs, b.Batch, b.Steps), b.Targets).Item() * n;
            count += n;
        }
        if (Dist.World is { Size: > 1 } world)
        {
            Span<double> totals = [sum, count];
            world.AllReduceSum(totals, "the held-out loss sum");
            (sum, count) = (totals[0], (int)totals[1]);
        }
        return count == 0 ? float.NaN : (float)(sum / count);
    }
}
