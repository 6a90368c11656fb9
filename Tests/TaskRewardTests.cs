using Engine.Rewards;
using Engine.Tasks;
using NUnit.Framework;

namespace Engine.Tests;

public class TaskRewardTests
{
    static readonly ArithmeticTask Arithmetic = new();
    static readonly CountdownTask Countdown = new();
    static readonly Problem Sum = new("47+38=", "85");
    static readonly Problem Cd = new("3 7 25->46:", "46");
    static readonly ResponseInfo Info = new(10, false);

    [Test]
    public void SplitsAreDeterministicDisjointAndCarryWorkedSolutions()
    {
        var train = Arithmetic.Generate("train", 300, 5);
        var test = Arithmetic.Generate("test", 100, 5);
        Assert.That(train.Select(p => p.Prompt), Is.EqualTo(Arithmetic.Generate("train", 300, 5).Select(p => p.Prompt)));
        Assert.That(train.Select(p => p.Prompt).Intersect(test.Select(p => p.Prompt)), Is.Empty);
        Assert.That(train.Select(p => p.Prompt).Distinct().Count(), Is.EqualTo(300));
        var acc = new AccuracyReward(Arithmetic);
        var format = new FormatReward();
        foreach (var p in train.Take(50))
        {
            Assert.That(acc.Score(p, p.Completion!, Info), Is.EqualTo(1f), p.Completion);
            Assert.That(format.Score(p, p.Completion!, Info), Is.EqualTo(1f), p.Completion);
        }
        // "47+38=": 7+8=15 (carry 1), 4+3+1=8 → 85
        Assert.That(train.Concat(test).FirstOrDefault(p => p.Prompt == "47+38=")?.Completion ?? "<think>7+8=15 4+3+1=8</think><answer>85</answer>",
            Is.EqualTo("<think>7+8=15 4+3+1=8</think><answer>85</answer>"));
        foreach (var p in Countdown.Generate("train", 50, 2))
            Assert.That(acc.Score(p, p.Completion!, Info), Is.EqualTo(0f), "arithmetic's verifier is not countdown's");
        var cacc = new AccuracyReward(Countdown);
        foreach (var p in Countdown.Generate("train", 50, 2))
            Assert.That(cacc.Score(p, p.Completion!, Info), Is.EqualTo(1f), $"{p.Prompt} {p.Completion}");
    }

    [Test]
    public void AccuracyReadsTheLastAnswerTag()
    {
        var acc = new AccuracyReward(Arithmetic);
        Assert.That(acc.Score(Sum, "<think>x</think><answer>85</answer>", Info), Is.EqualTo(1f));
        Assert.That(acc.Score(Sum, "<answer>85</answer><answer>84</answer>", Info), Is.EqualTo(0f), "several tags: the last counts");
        Assert.That(acc.Score(Sum, "<answer>84</answer><answer>85</answer>", Info), Is.EqualTo(1f));
        Assert.That(acc.Score(Sum, "<answer>eighty-five</answer>", Info), Is.EqualTo(0f), "non-numeric");
        Assert.That(acc.Score(Sum, "<answer>85", Info), Is.EqualTo(0f), "unclosed tag");
        Assert.That(acc.Score(Sum, "85", Info), Is.EqualTo(0f), "no tag");
        Assert.That(acc.Score(Sum, "<answer> 85 </answer>", Info), Is.EqualTo(1f), "surrounding spaces are trimmed");
    }

    [Test]
    public void FormatStrictAndPartial()
    {
        var strict = new FormatReward();
        var partial = new FormatReward(partial: true);
        Assert.That(strict.Score(Sum, "<think>a</think><answer>1</answer>", Info), Is.EqualTo(1f));
        Assert.That(strict.Score(Sum, "<think>a</think>x<answer>1</answer>", Info), Is.EqualTo(0f), "text between the blocks");
        Assert.That(strict.Score(Sum, "<think>a<think></think><answer>1</answer>", Info), Is.EqualTo(0f), "nested tag");
        Assert.That(strict.Score(Sum, "<answer>1</answer>", Info), Is.EqualTo(0f));
        Assert.That(partial.Score(Sum, "<answer>1</answer>", Info), Is.EqualTo(0.5f), "two of four tags, in order");
        Assert.That(partial.Score(Sum, "</think><think>", Info), Is.EqualTo(0.25f), "out of order: only the first counts");
        Assert.That(partial.Score(Sum, "<think><think></think><answer>1</answer>", Info), Is.EqualTo(0.75f), "a repeated tag earns nothing");
        Assert.That(partial.Score(Sum, "<think>a</think><answer>1</answer>", Info), Is.EqualTo(1f));
    }

    [Test]
    public void CountdownVerifier()
    {
        var acc = new AccuracyReward(Countdown, wellFormedWrong: 0.1f);
        Assert.That(acc.Score(Cd, "<answer>25+3*7</answer>", Info), Is.EqualTo(1f), "25 + 21 = 46, every number once");
        Assert.That(acc.Score(Cd, "<answer>(25-3)*7</answer>", Info), Is.EqualTo(0.1f), "well formed but 154");
        Assert.That(acc.Score(Cd, "<answer>25+25-7+3</answer>", Info), Is.EqualTo(0.1f), "25 reused: wrong");
        Assert.That(acc.Score(Cd, "<answer>25+21</answer>", Info), Is.EqualTo(0.1f), "a number not given");
        Assert.That(acc.Score(Cd, "<answer>25+3</answer>", Info), Is.EqualTo(0.1f), "7 unused");
        Assert.That(acc.Score(Cd, "<answer>25/(7-7)+3</answer>", Info), Is.EqualTo(0f), "division by zero is malformed");
        Assert.That(acc.Score(Cd, "<answer>25+3×7</answer>", Info), Is.EqualTo(1f), "× is accepted");
        Assert.That(acc.Score(Cd, "<answer>(25+3*7</answer>", Info), Is.EqualTo(0f), "unbalanced bracket");
        Assert.That(acc.Score(Cd, "<answer>x+3*7</answer>", Info), Is.EqualTo(0f), "letters");
        Assert.That(acc.Score(new Problem("4 6 3->3:", "3"), "<answer>6/4*(3-1)</answer>", Info), Is.EqualTo(0.1f));
        Assert.That(acc.Score(new Problem("3 8 4->6:", "6"), "<answer>8*3/4</answer>", Info), Is.EqualTo(1f), "fractions in between are fine");
    }

    [Test]
    public void LengthShaping()
    {
        var cos = new CosineLengthReward(Arithmetic, maxLength: 20);
        // correct: r = .5 + .25(1 + cos(πL/20)) → L=0: 1.0, L=10: .75, L=20: .5; wrong: −.25(1 + cos) → 0 at L=20, −.5 at L=0.
        Assert.That(cos.Score(Sum, "<answer>85</answer>", new(0, false)), Is.EqualTo(1f).Within(1e-6f));
        Assert.That(cos.Score(Sum, "<answer>85</answer>", new(10, false)), Is.EqualTo(.75f).Within(1e-6f));
        Assert.That(cos.Score(Sum, "<answer>84</answer>", new(0, false)), Is.EqualTo(-.5f).Within(1e-6f));
        Assert.That(cos.Score(Sum, "<answer>84</answer>", new(20, false)), Is.EqualTo(0f).Within(1e-6f));
        var over = new OverlongPenalty(maxLength: 20, buffer: 4, penalty: 1f);
        // L ≤ 16: 0; L = 18: −(18 − 16)/4 = −.5; L = 21 (beyond): −1.
        Assert.That(over.Score(Sum, "", new(16, false)), Is.EqualTo(0f));
        Assert.That(over.Score(Sum, "", new(18, false)), Is.EqualTo(-.5f));
        Assert.That(over.Score(Sum, "", new(21, true)), Is.EqualTo(-1f));
        var set = RewardSet.Parse("accuracy:1,format:0.5", Arithmetic, 20);
        Assert.That(set.Score(Sum, "<think>a</think><answer>85</answer>", Info).Total, Is.EqualTo(1.5f));
        Assert.Throws<ArgumentException>(() => RewardSet.Parse("accuracy:x", Arithmetic, 20));
        Assert.Throws<ArgumentException>(() => RewardSet.Parse("speed:1", Arithmetic, 20));
    }
}

/// <summary>Thinking modes and the variable-length task, against hand-worked values.</summary>
public class ThinkingModeTests
{
    static readonly Engine.Tasks.Problem On = new("12+7+33=", "52", "<think>12+7=19 19+33=52</think><answer>52</answer>");

    [Test]
    public void OffAddsTheMarkerAndAnswersDirectly()
    {
        var off = Engine.Tasks.ThinkingModes.Off(On);
        Assert.That(off.Prompt, Is.EqualTo("12+7+33= /no_think"));
        Assert.That(off.Completion, Is.EqualTo("<answer>52</answer>"));
        Assert.That(Engine.Tasks.ThinkingModes.Off(off), Is.SameAs(off), "idempotent");
        var mixed = Engine.Tasks.ThinkingModes.Mix([On, On, On, On]);
        Assert.That(mixed.Select(p => Engine.Tasks.ThinkingModes.IsOff(p.Prompt)), Is.EqualTo(new[] { false, true, false, true }));
    }

    [TestCase(false, "<think>12+7=19 19+33=52</think><answer>52</answer>", 1f)]
    [TestCase(false, "<answer>52</answer>", 0f)]
    [TestCase(true, "<answer>52</answer>", 1f)]
    [TestCase(true, " <answer>51</answer> ", 1f)]             // the format, not the answer
    [TestCase(true, "<think>12+7=19</think><answer>52</answer>", 0f)]
    [TestCase(true, "<answer>52</answer><think>", 0f)]
    public void TheFormatRewardFollowsTheMode(bool off, string response, float expected)
    {
        var p = off ? Engine.Tasks.ThinkingModes.Off(On) : On;
        Assert.That(new Engine.Rewards.FormatReward().Score(p, response, new Engine.Rewards.ResponseInfo(10, false)),
            Is.EqualTo(expected));
    }

    [Test]
    public void MultiSumWorkedSolutionsGrowWithTheTerms()
    {
        var task = new Engine.Tasks.MultiSumTask();
        var problems = task.Generate("train", 300, 1);
        Assert.That(problems.Select(p => p.Prompt.Count(c => c == '+') + 1).Distinct().Order(), Is.EqualTo(new[] { 2, 3, 4, 5, 6 }));
        foreach (var p in problems)
        {
            long sum = p.Prompt.TrimEnd('=').Split('+').Sum(long.Parse);
            Assert.That(p.Answer, Is.EqualTo(sum.ToString()), p.Prompt);
            Assert.That(task.Verify(p, p.Answer), Is.EqualTo(Engine.Tasks.Verdict.Correct));
            int steps = p.Completion!.Split(' ').Length;                     // one running-total step per extra term
            Assert.That(steps, Is.EqualTo(p.Prompt.Count(c => c == '+')), p.Completion);
        }
        var test = task.Generate("test", 100, 1).Select(p => p.Prompt).ToHashSet();
        Assert.That(problems.Any(p => test.Contains(p.Prompt)), Is.False, "held-out split disjoint");
        Assert.That(task.Verify(problems[0], "x"), Is.EqualTo(Engine.Tasks.Verdict.Malformed));
    }
}

/// <summary>Worked solutions at several lengths (multisum): every one a correct derivation; matched and varied data.</summary>
public class VariedThoughtTests
{
    static readonly Engine.Tasks.MultiSumTask Task = new(digits: 1);

    /// <summary>Checks every step "a+b+…=s" of a thought adds up, and that the last sum is the answer.</summary>
    static void AssertDerives(string thought, Engine.Tasks.Problem p)
    {
        if (thought.Length == 0) return;
        string last = "";
        foreach (var step in thought.Replace(" check ", " ").Split(' '))
        {
            var sides = step.Split('=');
            Assert.That(sides[0].Split('+').Sum(long.Parse), Is.EqualTo(long.Parse(sides[1])), $"{p.Prompt} {thought}");
            last = sides[1];
        }
        Assert.That(last, Is.EqualTo(p.Answer), thought);
    }

    [Test]
    public void EveryThoughtIsACorrectDerivation()
    {
        var problems = Task.Generate("train", 200, 3);
        Assert.That(problems.SelectMany(p => p.Prompt.TrimEnd('=').Split('+')).All(t => t.Length == 1), "single digits");
        foreach (var p in problems)
        {
            var thoughts = Task.Thoughts(p, checks: 6);
            int terms = p.Prompt.Count(c => c == '+') + 1;
            Assert.That(thoughts, Has.Count.EqualTo(1 + (terms - 1) + 6));               // none, n−1 groupings, 6 checks
            Assert.That(thoughts[0], Is.Empty);
            Assert.That(thoughts[terms - 1], Is.EqualTo(p.Completion![7..p.Completion!.IndexOf("</think>")]),
                "the running total is the task's own worked solution");
            foreach (var t in thoughts) AssertDerives(t, p);
            Assert.That(Task.Thoughts(p, checks: 1), Is.EqualTo(thoughts.Take(terms + 1)));
        }
    }

    [Test]
    public void MatchedSolutionsAreTheClosestToTheBudget()
    {
        var p = new Engine.Tasks.Problem("7+2+0=", "9", null);
        // Thoughts: "" (0), "7+2+0=9" (7), "7+2=9 9+0=9" (11), + " check 0+2=2 2+7=9" (29), + " check 7+2=9 9+0=9" (47), …
        string Think(int budget)
        {
            var m = Engine.Tasks.LengthControl.Matched(p, budget, Task);
            Assert.That(m.Prompt, Is.EqualTo($"7+2+0= /budget {budget}"));
            return m.Completion![7..m.Completion!.IndexOf("</think>")];
        }
        Assert.That(Think(0), Is.Empty);
        Assert.That(Think(3), Is.Empty);                                      // 3 from 0, 4 from 7
        Assert.That(Think(5), Is.EqualTo("7+2+0=9"));
        Assert.That(Think(9), Is.EqualTo("7+2=9 9+0=9"));                    // 2 from 7 and from 11: the longer
        Assert.That(Think(30), Is.EqualTo("7+2=9 9+0=9 check 0+2=2 2+7=9"));
        Assert.That(Think(40), Is.EqualTo("7+2=9 9+0=9 check 0+2=2 2+7=9 check 7+2=9 9+0=9"));
    }

    [Test]
    public void VariedSolutionsAreSeededAndUseEveryVerbosity()
    {
        var problems = Task.Generate("train", 400, 1);
        var a = Engine.Tasks.LengthControl.Varied(problems, Task, 1);
        Assert.That(a.Select(p => p.Completion), Is.EqualTo(Engine.Tasks.LengthControl.Varied(problems, Task, 1)
            .Select(p => p.Completion)));
        Assert.That(a.Select(p => p.Prompt), Is.EqualTo(problems.Select(p => p.Prompt)), "no marker on the prompts");
        var lengths = a.Select(p => Engine.Tasks.LengthControl.ThinkChars(p.Completion!)).ToList();
        Assert.That(lengths.Count(l => l == 0), Is.InRange(30, 130), "the answer at once, about 1 in 4 to 1 in 7");
        Assert.That(a.Count(p => p.Completion!.Contains(" check ")), Is.InRange(30, 130));
        Assert.That(a.Zip(problems).Count(x => x.First.Completion == x.Second.Completion), Is.InRange(30, 130),
            "the running total alone");
    }
}

/// <summary>L1 length control: the budget marker and the reward against hand-worked values.</summary>
public class LengthControlTests
{
    static readonly Engine.Tasks.Problem P = new("12+7=", "19", "<think>2+7=9 1+0=1</think><answer>19</answer>");

    [TestCase("<think>2+7=9 1+0=1</think><answer>19</answer>", 8, -3f)]     // 11 characters of thinking
    [TestCase("<think>2+7=9 1+0=1</think><answer>19</answer>", 11, 0f)]
    [TestCase("<think>2+7=9 1+0=1</think><answer>19</answer>", 20, -9f)]
    [TestCase("<answer>19</answer>", 4, -4f)]                                // no thinking: length 0
    [TestCase("<think>2+7=9 1+0", 3, -6f)]                                   // unclosed: to the end
    public void PaysMinusTheDistanceToTheBudget(string response, int budget, float expected)
    {
        var p = Engine.Tasks.LengthControl.WithBudget(P, budget);
        Assert.That(p.Prompt, Is.EqualTo($"12+7= /budget {budget}"));
        Assert.That(Engine.Tasks.LengthControl.Budget(p.Prompt), Is.EqualTo(budget));
        Assert.That(new Engine.Rewards.LengthControlReward().Score(p, response, new Engine.Rewards.ResponseInfo(30, false)),
            Is.EqualTo(expected));
    }

    [Test]
    public void NoBudgetNoPenaltyAndBudgetsInTurn()
    {
        Assert.That(new Engine.Rewards.LengthControlReward().Score(P, "<think>xx</think>", new(5, false)), Is.Zero);
        Assert.That(Engine.Tasks.LengthControl.Budget("12+7= /budget x"), Is.Null);
        var assigned = Engine.Tasks.LengthControl.Assign([P, P, P, P, P], [8, 16]);
        Assert.That(assigned.Select(p => Engine.Tasks.LengthControl.Budget(p.Prompt)), Is.EqualTo(new int?[] { 8, 16, 8, 16, 8 }));
        var set = Engine.Rewards.RewardSet.Parse("accuracy:1,length-control:0.5", new Engine.Tasks.ArithmeticTask(), 40);
        var (total, each) = set.Score(assigned[0], "<think>2+7=9 1+0=1</think><answer>19</answer>", new(30, false));
        Assert.That(each, Is.EqualTo(new[] { 1f, -3f }));
        Assert.That(total, Is.EqualTo(1f - 1.5f));
    }
}
