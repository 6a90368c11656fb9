using System.Globalization;

namespace Engine.Tasks;

/// <summary>
/// TinyZero's countdown: 3–4 numbers and a target; the answer is an expression with + − × ÷ and
/// brackets that uses every number exactly once and equals the target (within 1e-5). Problems are
/// built from a random expression, so each has at least one solution (the worked one).
/// </summary>
public sealed class CountdownTask : IReasoningTask
{
    public string Name => "countdown";

    public IReadOnlyList<Problem> Generate(string split, int n, int seed) => ReasoningTasks.Split(Make, split, n, seed);

    static Problem Make(Rng rng)
    {
        while (true)
        {
            int count = 3 + rng.Next(2);
            var nums = Enumerable.Range(0, count).Select(_ => 1 + rng.Next(25)).ToList();
            // Fold the numbers left to right with random operators: ((a op b) op c) op d.
            string expr = nums[0].ToString(CultureInfo.InvariantCulture);
            double value = nums[0];
            bool ok = true;
            for (int i = 1; i < count && ok; i++)
            {
                char op = "+-*/"[rng.Next(4)];
                double next = op switch { '+' => value + nums[i], '-' => value - nums[i], '*' => value * nums[i], _ => value / nums[i] };
                if (next != Math.Floor(next) || next <= 0 || next > 999) { ok = false; break; }
                expr = i == 1 ? $"{expr}{op}{nums[i]}" : $"({expr}){op}{nums[i]}";
                value = next;
            }
            if (!ok) continue;
            var shown = nums.ToList();
            rng.Shuffle(shown);
            string target = ((int)value).ToString(CultureInfo.InvariantCulture);
            return new Problem($"{string.Join(" ", shown)}->{target}:", target, $"<think>{expr}={target}</think><answer>{expr}</answer>");
        }
    }

    public Verdict Verify(Problem problem, string answer)
    {
        var numbers = problem.Prompt[..problem.Prompt.IndexOf("->", StringComparison.Ordinal)]
            .Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).OrderBy(x => x).ToList();
        double target = double.Parse(problem.Answer, CultureInfo.InvariantCulture);
        if (!ExpressionParser.TryEvaluate(answer, out double value, out var used)) return Verdict.Malformed;
        if (!used.OrderBy(x => x).SequenceEqual(numbers)) return Verdict.Wrong;     // every number exactly once
        return Math.Abs(value - target) < 1e-5 ? Verdict.Correct : Verdict.Wrong;
    }
}

/// <summary>
/// A recursive-descent evaluator for + − × ÷ and brackets over non-negative integers (× may be
/// written * or ×, ÷ as / or ÷). Anything else — letters, a division by zero, unbalanced brackets —
/// makes the expression malformed.
/// </summary>
public static class ExpressionParser
{
    public static bool TryEvaluate(string text, out double value, out List<int> numbers)
    {
        numbers = [];
        var s = text.Replace(" ", "").Replace('×', '*').Replace('÷', '/');
        int pos = 0;
        try
        {
            value = Sum(s, ref pos, numbers);
            return pos == s.Length && double.IsFinite(value);
        }
        catch (FormatException)
        {
            value = double.NaN;
            return false;
        }
    }

    static double Sum(string s, ref int pos, List<int> nums)
    {
        double v = Product(s, ref pos, nums);
        while (pos < s.Length && (s[pos] == '+' || s[pos] == '-'))
        {
            char op = s[pos++];
            double r = Product(s, ref pos, nums);
            v = op == '+' ? v + r : v - r;
        }
        return v;
    }

    static double Product(string s, ref int pos, List<int> nums)
    {
        double v = Atom(s, ref pos, nums);
        while (pos < s.Length && (s[pos] == '*' || s[pos] == '/'))
        {
            char op = s[pos++];
            double r = Atom(s, ref pos, nums);
            if (op == '/' && r == 0) throw new FormatException("division by zero");
            v = op == '*' ? v * r : v / r;
        }
        return v;
    }

    static double Atom(string s, ref int pos, List<int> nums)
    {
        if (pos < s.Length && s[pos] == '(')
        {
            pos++;
            double v = Sum(s, ref pos, nums);
            if (pos >= s.Length || s[pos] != ')') throw new FormatException("unbalanced bracket");
            pos++;
            return v;
        }
        int start = pos;
        while (pos < s.Length && char.IsAsciiDigit(s[pos])) pos++;
        if (pos == start || pos - start > 6) throw new FormatException("expected a number");
        int n = int.Parse(s.AsSpan(start, pos - start), CultureInfo.InvariantCulture);
        nums.Add(n);
        return n;
    }
}
