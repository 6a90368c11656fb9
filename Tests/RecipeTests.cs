using Engine.Data;
using Engine.Model;
using Engine.RL;
using Engine.Rewards;
using Engine.Tasks;
using Engine.Tokenizers;
using Engine.Training;
using NUnit.Framework;
using static Engine.Tests.GradCheck;

namespace Engine.Tests;

public class RecipeTests
{
    [Test]
    public void RejectionSamplingKeepsOnlyVerifiedTraces()
    {
        string dir = Path.Combine(Path.GetTempPath(), "engine-rs-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            // A micro model SFT'd briefly on 1-digit additions: right sometimes, wrong sometimes.
            var task = new ArithmeticTask(digits: 1);
            var tok = new CharTokenizer();
            var model = new Transformer(ModelConfig.Preset("micro", tok.VocabSize, 32), Cpu, 1);
            var problems = task.Generate("train", 80, 1);
            var data = new SftData(problems.Select(p => (p.Prompt, p.Completion!)), tok, 32);
            LmTrainer.Train(model, tok, AdamW.For(model, 0.1f), data, new Rng(1),
                new LmTrainOptions
                {
                    Steps = 120, Batch = 16, Schedule = new LrSchedule(3e-3f, 10, 120), EvalBatches = 2, LogEvery = 1000, Out = dir,
                    Kind = "sft",
                });
            var (kept, acceptance) = Engine.RL.RejectionSampling.Run(model, tok, task, problems.Take(40).ToList(), 4, 1f, 24, 2);
            TestContext.Out.WriteLine($"kept {kept.Count}, acceptance {acceptance:P1}");
            Assert.That(kept, Is.Not.Empty, "the check would be vacuous");
            Assert.That(acceptance, Is.LessThan(1.0), "some samples must have been rejected");
            var acc = new AccuracyReward(task);
            var format = new FormatReward();
            foreach (var (prompt, completion) in kept)
            {
                var problem = problems.First(p => p.Prompt == prompt);
                Assert.That(acc.Score(problem, completion, new(0, false)), Is.EqualTo(1f), completion);
                Assert.That(format.Score(problem, completion, new(0, false)), Is.EqualTo(1f), completion);
            }
            Assert.That(kept.Distinct().Count(), Is.EqualTo(kept.Count), "duplicates of one prompt are dropped");
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }

    [Test]
    public void PolicyPreferencesPreferVerifiedOverWrongOrMalformed()
    {
        var task = new ArithmeticTask();
        var problem = new Problem("45+97=", "142", null);
        const string good = "<think>5+7=12 4+9+1=14 0+0+1=1</think><answer>142</answer>";
        const string wrong = "<think>5+7=13 4+9+1=14 0+0+1=1</think><answer>143</answer>";
        const string malformed = "<think>5+7=12 4+9+1=14 0+0+1=1</think>142";
        VerifiedSample S(string t) => Engine.RL.VerifiedSampling.Judge(task, problem, t, new ResponseInfo(t.Length, false));
        Assert.That(Engine.RL.PolicyPreferences.Pair(problem, [S(good), S(good)], new Rng(1)), Is.Null, "all right: no pair");
        Assert.That(Engine.RL.PolicyPreferences.Pair(problem, [S(wrong), S(malformed)], new Rng(1)), Is.Null, "all wrong: no pair");
        var kinds = new HashSet<string>();
        for (int seed = 0; seed < 20; seed++)
        {
            var pair = Engine.RL.PolicyPreferences.Pair(problem, [S(wrong), S(good), S(malformed), S("")], new Rng(seed))!;
            Assert.That(pair.Chosen, Is.EqualTo(good));
            Assert.That(pair.Rejected, Is.EqualTo(pair.Kind == "policy-wrong" ? wrong : malformed), "an empty sample is never the rejected one");
            kinds.Add(pair.Kind!);
        }
        Assert.That(kinds, Is.EquivalentTo(new[] { "policy-wrong", "policy-malformed" }));
    }
}
