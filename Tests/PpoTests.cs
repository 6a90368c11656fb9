using Engine.Training;
using Engine.Model;
using Engine.RL;
using Engine.Rewards;
using Engine.Tasks;
using Engine.Tokenizers;
using NUnit.Framework;
using static Engine.Tests.GradCheck;

namespace Engine.Tests;

public class PpoTests
{
    [Test]
    public void ShortPpoRunRaisesTheReward()
    {
        string dir = Path.Combine(Path.GetTempPath(), "engine-ppo-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            var tok = new CharTokenizer();
            var cfg = ModelConfig.Preset("micro", tok.VocabSize, 24);
            var policy = new Transformer(cfg, Cpu, 3);
            var reference = new Transformer(cfg, Cpu, 3);
            var critic = new Transformer(cfg with { ValueHead = true }, Cpu, 3);
            var task = new ArithmeticTask();
            var o = new PpoOptions { Steps = 25, Prompts = 32, MaxNewTokens = 4, Lr = 3e-3f, CriticLr = 3e-3f, Warmup = 0, KlCoef = 0.01f, Seed = 3, Out = dir, LogEvery = 1000 };
            var trainer = new PpoTrainer(policy, reference, critic, tok, task, task.Generate("train", 200, 3), new RewardSet([(new StartsWithDigit(), 1f)]), null,
                AdamW.For(policy, 0f), AdamW.For(critic, 0f), new Rng(3), o);
            var rows = trainer.Train().ToList();
            double first = rows.Take(5).Average(r => Convert.ToDouble(r["reward/mean"]));
            double last = rows.TakeLast(5).Average(r => Convert.ToDouble(r["reward/mean"]));
            TestContext.Out.WriteLine($"PPO mean reward {first:F3} -> {last:F3}");
            Assert.That(last, Is.GreaterThan(first + 0.2), $"reward {first:F3} -> {last:F3}");
            Assert.That(rows[0].Keys, Is.SupersetOf(new[] { "loss/value", "explained_variance", "value/mean", "kl", "beta", "clipfrac", "entropy" }));
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }

    [Test]
    public void RewardModelLearnsBuiltInPreferencesAndPreferencesAreWellFormed()
    {
        var task = new ArithmeticTask();
        var prefs = RewardModel.FromTask(task, "train", 60, 1);
        var acc = new AccuracyReward(task);
        foreach (var p in prefs)
        {
            Assert.That(acc.Score(new Problem(p.Prompt, task.Generate("train", 60, 1).First(q => q.Prompt == p.Prompt).Answer), p.Chosen, new(0, false)), Is.EqualTo(1f));
            Assert.That(p.Rejected, Is.Not.EqualTo(p.Chosen));
        }
        // A few steps of Bradley–Terry on a micro model lower the loss on the pairs it sees.
        var tok = new CharTokenizer();
        var rm = new Transformer(ModelConfig.Preset("micro", tok.VocabSize, 64) with { ValueHead = true }, Cpu, 2);
        var opt = AdamW.For(rm, 0f);
        var batch = prefs.Take(16).ToList();
        float first = RewardModel.Evaluate(rm, tok, batch).Loss;
        for (int i = 0; i < 15; i++) RewardModel.Step(rm, tok, opt, batch, 3e-3f, 1f);
        float after = RewardModel.Evaluate(rm, tok, batch).Loss;
        Assert.That(after, Is.LessThan(first * 0.7f), $"Bradley–Terry loss {first:F3} -> {after:F3}");
    }

    [Test]
    public void ImplicitRewardIsTheLogRatioAndItsBradleyTerryGradientMatchesCentralDifferences()
    {
        var tok = new CharTokenizer();
        var cfg = ModelConfig.Preset("micro", tok.VocabSize, 32);
        var model = new Transformer(cfg, Cpu, 2);
        var irm = new ImplicitRewardModel(model, new Transformer(cfg, Cpu, 3), tok, beta: 0.5f);
        Assert.That(new ImplicitRewardModel(model, model, tok, 0.5f).Score([("1+2=", "<answer>3</answer>")])[0], Is.EqualTo(0f), "the reference itself scores 0");
        Preference[] pairs = [new("1+2=", "<answer>3</answer>", "<answer>4</answer>"), new("5+4=", "<think>5+4=9</think><answer>9</answer>", "9"),
            new("7+7=", "<answer>14</answer>", "<answer>14</answer><answer>1")];
        double Loss() => RewardModel.Evaluate(irm, pairs).Loss;
        var opt = AdamW.For(model, 0f);
        irm.Step(opt, pairs, lr: 0f, clip: 1e9f);                        // leaves the gradients in place, the weights unchanged
        var rng = new Random(5);
        foreach (var (name, param) in model.Named.Where(n => n.Name is "model.embed_tokens.weight" or "model.layers.0.self_attn.q_proj.weight" or "model.norm.weight"))
        {
            var data = param.ToArray();
            var grad = param.Grad!.ToArray();
            for (int trial = 0; trial < 3; trial++)
            {
                int i = Enumerable.Range(0, data.Length).OrderByDescending(j => Math.Abs(grad[j]) + rng.NextDouble() * 1e-9).Skip(trial).First();
                const float h = 1e-2f;
                float saved = data[i];
                data[i] = saved + h; param.Data.CopyFrom(data); double up = Loss();
                data[i] = saved - h; param.Data.CopyFrom(data); double down = Loss();
                data[i] = saved; param.Data.CopyFrom(data);
                double numeric = (up - down) / (2 * h);
                Assert.That(grad[i], Is.EqualTo(numeric).Within(2e-2 * Math.Abs(numeric) + 2e-4), $"{name}[{i}]");
            }
        }
    }

    [Test]
    public void RmAndPpoRunFromTheCommandLineWithEitherHead()
    {
        string dir = Path.Combine(Path.GetTempPath(), "engine-rmcli-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            string[] micro = ["--model", "micro", "--context", "64", "--seed", "2"];
            foreach (var head in new[] { "scalar", "implicit" })
            {
                var rm = CliTests.Engine(["rm", .. micro, "--head", head, "--steps", "2", "--pairs", "20", "--batch", "4", "--out", Path.Combine(dir, head)]);
                Assert.That(rm.Code, Is.EqualTo(0), rm.Err);
                Assert.That(rm.Out, Does.Contain("held-out pairwise accuracy").And.Contain("wrong-answer"));
                var ppo = CliTests.Engine(["ppo", .. micro, "--reward-model", Path.Combine(dir, head, "final"), "--steps", "1", "--prompts", "2",
                    "--max-new-tokens", "4", "--out", Path.Combine(dir, "ppo-" + head)]);
                Assert.That(ppo.Code, Is.EqualTo(0), ppo.Err);
                Assert.That(File.ReadAllText(Path.Combine(dir, "ppo-" + head, "metrics.jsonl")), Does.Contain("rm/score"));
            }
            Assert.That(File.Exists(Path.Combine(dir, "implicit", "final", ImplicitRewardModel.MarkerFile)) && Directory.Exists(Path.Combine(dir, "implicit", "final", "ref")));
            CliTests.AssertOneLineError(CliTests.Engine(["rm", .. micro, "--head", "bogus", "--out", Path.Combine(dir, "x")]), "--head bogus");
            CliTests.AssertOneLineError(CliTests.Engine(["ppo", .. micro, "--reward-model", Path.Combine(dir, "ppo-scalar", "final"), "--steps", "1",
                "--out", Path.Combine(dir, "y")]), "no value head");
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }
}
