using Engine.Training;
using System.Text.Json;
using Engine.Model;
using Engine.RL;
using Engine.Rewards;
using Engine.Tasks;
using Engine.Tokenizers;
using NUnit.Framework;
using static Engine.Tests.GradCheck;

namespace Engine.Tests;

public class GrpoTests
{
    sealed class Constant : IRewardFunction
    {
        public string Name => "constant";
        public float Score(Problem problem, string response, ResponseInfo info) => 1f;
    }

    string dir = "";
    [SetUp] public void MakeDir() => dir = Path.Combine(Path.GetTempPath(), "engine-grpo-" + Guid.NewGuid().ToString("N")[..8]);
    [TearDown] public void RemoveDir() { if (Directory.Exists(dir)) Directory.Delete(dir, true); }

    List<Dictionary<string, object>> Run(IRewardFunction reward, int steps, bool dynamic = false, int seed = 3)
    {
        var tok = new CharTokenizer();
        var model = new Transformer(ModelConfig.Preset("micro", tok.VocabSize, 24), Cpu, seed);
        var task = new ArithmeticTask();
        var opt = AdamW.For(model, 0f);
        var o = new GrpoOptions { Steps = steps, Prompts = 4, GroupSize = 8, MaxNewTokens = 4, Lr = 3e-3f, Seed = seed,
            Out = dir, LogEvery = 1000, DynamicSampling = dynamic, MaxResampleRounds = 2 };
        var trainer = new GrpoTrainer(model, null, tok, task, task.Generate("train", 200, seed),
            new RewardSet([(reward, 1f)]), opt, new Rng(seed), o);
        return trainer.Train(0).ToList();
    }

    [Test]
    public void ShortRunRaisesTheMeanReward()
    {
        var rows = Run(new StartsWithDigit(), steps: 25);
        double first = rows.Take(5).Average(r => Convert.ToDouble(r["reward/mean"]));
        double last = rows.TakeLast(5).Average(r => Convert.ToDouble(r["reward/mean"]));
        TestContext.Out.WriteLine($"mean reward {first:F3} -> {last:F3}");
        foreach (var r in rows)
        {
            // The mean length is the correct and wrong means weighted by their shares.
            double acc = Convert.ToDouble(r["accuracy"]), all = Convert.ToDouble(r["completion_length/mean"]);
            double right = Convert.ToDouble(r["completion_length/correct"]), wrong = Convert.ToDouble(r["completion_length/wrong"]);
            Assert.That(acc * right + (1 - acc) * wrong, Is.EqualTo(all).Within(1e-3 * Math.Max(1, all)));
        }
        Assert.That(last, Is.GreaterThan(first + 0.2), $"reward {first:F3} -> {last:F3}");
        Assert.That(rows[0].Keys,
            Is.SupersetOf(new[] { "reward/mean", "reward/std", "reward/digit/mean", "accuracy", "format_rate",
            "completion_length/mean", "completion_length/correct", "completion_length/wrong",
            "completion_length/max", "clipfrac", "approx_kl", "kl", "entropy", "frac_zero_std_groups", "tokens_per_s",
                "time/sampling", "time/scoring", "time/training" }));
    }

    [Test]
    public void DynamicSamplingDropsFlatGroupsAndStopsAtItsCap()
    {
        var flat = Run(new Constant(), steps: 2, dynamic: true);
        Assert.That(flat.Select(r => Convert.ToInt32(r["groups_trained"])), Is.All.EqualTo(0),
            "every group has equal rewards: none is trained");
        Assert.That(flat.Select(r => Convert.ToDouble(r["frac_zero_std_groups"])), Is.All.EqualTo(1.0));
        Assert.That(flat.Select(r => Convert.ToInt32(r["sampling_rounds"])), Is.All.EqualTo(1 + 2),
            "all groups flat: it resamples, and stops after the 2 extra rounds of its cap");
        var mixed = Run(new StartsWithDigit(), steps: 3, dynamic: true);
        Assert.That(mixed.Select(r => Convert.ToInt32(r["sampling_rounds"])), Is.All.InRange(1, 3));
        Assert.That(mixed.Select(r => Convert.ToInt32(r["groups_trained"])), Is.All.LessThanOrEqualTo(4));
        Assert.That(mixed.Sum(r => Convert.ToInt32(r["groups_trained"])), Is.GreaterThan(0));
    }

    [Test]
    public void ResumeReproducesTheUninterruptedRun()
    {
        string[] common = ["grpo", "--model", "micro", "--context", "24", "--steps", "6", "--prompts", "2", "--group-size", "4",
            "--max-new-tokens", "6", "--lr", "3e-3", "--save-every", "3", "--seed", "5", "--train-size", "100"];
        string a = Path.Combine(dir, "a"), c = Path.Combine(dir, "c");
        var (code, _, err) = CliTests.Engine([.. common, "--out", a]);
        Assert.That(code, Is.EqualTo(0), err);
        (code, _, err) = CliTests.Engine([.. common, "--out", c, "--resume", Path.Combine(a, "checkpoint-3")]);
        Assert.That(code, Is.EqualTo(0), err);
        static string[] Rows(string d) => File.ReadAllLines(Path.Combine(d, "metrics.jsonl"))
            .Select(l => JsonDocument.Parse(l).RootElement).Select(r => $"{r.GetProperty("step")} {r.GetProperty("reward/mean")} {r.GetProperty("loss/policy")} {r.GetProperty("entropy")}").ToArray();
        Assert.That(Rows(c), Is.EqualTo(Rows(a)[3..]));
        Assert.That(File.Exists(Path.Combine(a, "final", "model.safetensors")));
        Assert.That(File.Exists(Path.Combine(a, "reward.png")));
    }

    [TestCase("--task", "chess", "unknown task")]
    [TestCase("--group-size", "1", "--group-size 1")]
    [TestCase("--context", "4", "does not fit the context")]
    [TestCase("--checkpoint", "/no/such/dir", "no such folder")]
    public void BadGrpoInputGivesOneLine(string flag, string value, string message)
    {
        CliTests.AssertOneLineError(CliTests.Engine("grpo", "--model", "micro", "--steps", "1", "--out",
            Path.Combine(dir, "bad"), flag, value), message);
    }

    [Test]
    public void CorruptCheckpointAndBadJsonlLinesAreNamed()
    {
        Directory.CreateDirectory(dir);
        string ck = Path.Combine(dir, "ck");
        Directory.CreateDirectory(ck);
        File.WriteAllText(Path.Combine(ck, "config.json"), "{ not json");
        var (code, _, err) = CliTests.Engine("grpo", "--checkpoint", ck, "--steps", "1", "--out", Path.Combine(dir, "o"));
        Assert.That(code, Is.Not.EqualTo(0));
        Assert.That(err.Trim(), Does.StartWith("engine: error:").And.Contain("config.json"));
        string data = Path.Combine(dir, "p.jsonl");
        File.WriteAllLines(data, ["{\"prompt\":\"1+1=\",\"answer\":\"2\"}", "{\"prompt\": oops}"]);
        (code, _, err) = CliTests.Engine("grpo", "--model", "micro", "--data", data, "--steps", "1", "--out", Path.Combine(dir, "o2"));
        Assert.That(code, Is.Not.EqualTo(0));
        Assert.That(err.Trim(), Does.StartWith("engine: error:").And.Contain("p.jsonl:2"));
    }

    [Test]
    public void DataVerbWritesProblemsAndEvalPrintsTheJsonObject()
    {
        Directory.CreateDirectory(dir);
        var (code, stdout, err) = CliTests.Engine("data", "--task", "countdown", "--n", "3", "--split", "test");
        Assert.That(code, Is.EqualTo(0), err);
        var rows = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.That(rows, Has.Count.EqualTo(3));
        Assert.That(rows[0].TryGetProperty("prompt", out _) && rows[0].TryGetProperty("answer", out _)
            && rows[0].TryGetProperty("completion", out _));

        var tok = new CharTokenizer();
        var model = new Transformer(ModelConfig.Preset("micro", tok.VocabSize, 32), Cpu, 1);
        Engine.Checkpoints.Checkpoint.Save(Path.Combine(dir, "m"), model, tok);
        (code, stdout, err) = CliTests.Engine("eval", "--checkpoint", Path.Combine(dir, "m"), "--task", "arithmetic",
            "--n", "5", "--k", "2", "--max-new-tokens", "6", "--json");
        Assert.That(code, Is.EqualTo(0), err);
        var result = JsonDocument.Parse(stdout.Split('\n').Single(l => l.StartsWith("{"))).RootElement;
        Assert.That(result.EnumerateObject().Select(p => p.Name),
            Is.EqualTo(new[] { "task", "n", "pass@1", "pass@k", "maj@k", "k", "format_rate", "mean_length",
            "mean_think_length", "think_rate", "pass_at", "maj_at" }));
        Assert.That(result.GetProperty("n").GetInt32(), Is.EqualTo(5));
    }
}
