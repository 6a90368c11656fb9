using System.Diagnostics;
using Engine.Checkpoints;
using Engine.Distributed;
using Engine.Model;
using Engine.Tokenizers;
using Engine.Training;

namespace Engine.RL;

public sealed record RmTrainOptions
{
    public required string Out { get; init; }
    public required string Head { get; init; }           // "scalar" or "implicit", for the summary
    public int Steps { get; init; } = 300;
    public int Batch { get; init; } = 16;
    public float Lr { get; init; } = 1e-3f;
    public int Warmup { get; init; } = 20;
    public float Clip { get; init; } = 1f;
    public float WeightDecay { get; init; } = 0.01f;
    public int EvalEvery { get; init; } = 50;
    public int LogEvery { get; init; } = 25;
    public int Seed { get; init; } = 1;
}

public sealed record RmTrainResult(float AccuracyBefore, float Accuracy, float Loss, SortedDictionary<string, float> AccuracyByKind);

/// <summary>
/// A reward model trained with the Bradley–Terry loss −log σ(r(chosen) − r(rejected)) on preference
/// pairs: a scalar value head, or the implicit reward β·Σ log π/π_ref (<see cref="ImplicitRewardModel"/>).
/// Per step a random batch of pairs, AdamW at a warm-up + cosine learning rate, a metrics row; held-out
/// pairwise accuracy (overall and per kind of rejected response) every EvalEvery steps. Writes final/
/// and summary.json; on Ctrl-C, checkpoint-N with the weights (a reward-model run does not resume).
/// </summary>
public sealed class RmTrainer(Transformer rm, ITokenizer tokenizer, ImplicitRewardModel? implicitRm,
    IReadOnlyList<Preference> train, IReadOnlyList<Preference> test, RmTrainOptions o)
{
    readonly IRewardScorer scorer = implicitRm is not null ? implicitRm : new ScalarRewardModel(rm, tokenizer);

    public RmTrainResult Train()
    {
        var optimizer = AdamW.For(rm, o.WeightDecay);
        // Data-parallel (under mpirun): --batch is per rank; every rank draws the global batch and trains on its share.
        var sync = Dist.World is { Size: > 1 } world ? new GradientAllReduce(world, optimizer.Parameters) : null;
        var schedule = new LrSchedule(o.Lr, o.Warmup, o.Steps);
        var rng = new Rng(o.Seed);
        var clock = Stopwatch.StartNew();
        var (lossBefore, accBefore, _) = RewardModel.Evaluate(scorer, test);
        float evalAcc = accBefore, evalLoss = lossBefore;
        var byKind = new SortedDictionary<string, float>();
        using (var run = new RunFolder(o.Out))
            Progress.Run("rm", 0, o.Steps, o.LogEvery, report =>
            {
                for (int step = 0; step < o.Steps; step++)
                {
                    var global = Enumerable.Range(0, o.Batch * Dist.Size).Select(_ => train[rng.Next(train.Count)])
                        .ToList();
                    var (first, count) = Shard.Mine(global.Count);
                    var share = new StepShare(count / (float)global.Count, sync, step);
                    var batch = global.GetRange(first, count);
                    float lr = schedule.At(step);
                    var (loss, acc) = implicitRm is not null ? implicitRm.Step(optimizer, batch, lr, o.Clip, share)
                        : RewardModel.Step(rm, tokenizer, optimizer, batch, lr, o.Clip, share);
                    if (!float.IsFinite(loss))
                        throw new InvalidOperationException($"rm: the loss became {loss} at step {step}; try a lower --lr");
                    var row = new Dictionary<string, object> { ["step"] = step, ["loss"] = loss, ["accuracy"] = acc, ["lr"] = lr };
                    if ((step + 1) % o.EvalEvery == 0 || step == o.Steps - 1)
                    {
                        (evalLoss, evalAcc, byKind) = RewardModel.Evaluate(scorer, test);
                        foreach (var (kind, kindAcc) in byKind) row[$"eval/accuracy/{kind}"] = kindAcc;
                        row["eval/loss"] = evalLoss;
                        row["eval/accuracy"] = evalAcc;
                    }
                    run.Log(row);
                    if (step + 1 < o.Steps
                        && Shard.AnyRank(Interrupt.Requested, $"the stop check after step {step + 1}"))
                        throw new InterruptedException(step + 1, Save($"checkpoint-{step + 1}"), resumable: false);
                    report(step, $"loss {loss:F3} acc {acc:P0} held-out acc {evalAcc:P1}");
                }
            });
        string final = Save("final");
        RunFolder.WriteSummary(o.Out, new Dictionary<string, object>
        {
            ["head"] = o.Head, ["pairs"] = train.Count, ["held_out"] = test.Count,
            ["held_out_by_kind"] = new SortedDictionary<string, int>(test.Where(p => p.Kind is not null)
                .GroupBy(p => p.Kind!).ToDictionary(g => g.Key, g => g.Count())),
            ["eval_accuracy_before"] = accBefore, ["eval_accuracy"] = evalAcc, ["eval_loss"] = evalLoss,
            ["eval_accuracy_by_kind"] = byKind, ["seconds"] = Math.Round(clock.Elapsed.TotalSeconds, 1),
            ["checkpoint"] = final,
        });
        return new RmTrainResult(accBefore, evalAcc, evalLoss, byKind);
    }

    string Save(string name)
    {
        string dir = Path.Combine(o.Out, name);
        if (implicitRm is not null) implicitRm.Save(dir);
        else Checkpoint.Save(dir, rm, tokenizer);
        return dir;
    }
}
