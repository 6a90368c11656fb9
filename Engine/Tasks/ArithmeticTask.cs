using System.Globalization;
using System.Text;

namespace Engine.Tasks;

/// <summary>
/// Integer arithmetic: "47+38=" → 85. Worked solutions add column by column with the carry, the
/// way the format's &lt;think&gt; is meant to be used: "&lt;think&gt;7+8=15 4+3+1=8&lt;/think&gt;&lt;answer&gt;85&lt;/answer&gt;".
/// Subtraction (a ≥ b) is shown as the difference directly. Operand digits and operators configurable.
/// </summary>
public sealed class ArithmeticTask(int digits = 2, string operators = "+") : IReasoningTask
{
    public string Name => "arithmetic";

    public IReadOnlyList<Problem> Generate(string split, int n, int seed) => ReasoningTasks.Split(Make, split, n, seed);

    Problem Make(Rng rng)
    {
        int max = (int)Math.Pow(10, digits);
        int a = rng.Next(max), b = rng.Next(max);
        char op = operators[rng.Next(operators.Length)];
        if (op == '-' && b > a) (a, b) = (b, a);
        int result = op == '+' ? a + b : a - b;
        string prompt = $"{a}{op}{b}=";
        string think = op == '+' ? ColumnAddition(a, b) : $"{a}-{b}={result}";
        return new Problem(prompt, result.ToString(CultureInfo.InvariantCulture), $"<think>{think}</think><answer>{result}</answer>");
    }

    /// <summary>"7+8=15 4+3+1=8": each column from the right with its carry.</summary>
    static string ColumnAddition(int a, int b)
    {
        var sb = new StringBuilder();
        int carry = 0;
        while (a > 0 || b > 0 || carry > 0)
        {
            int da = a % 10, db = b % 10, s = da + db + carry;
            if (sb.Length > 0) sb.Append(' ');
            sb.Append(da).Append('+').Append(db);
            if (carry > 0) sb.Append('+').Append(carry);
            sb.Append('=').Append(s);
            carry = s / 10;
            a /= 10; b /= 10;
            if (a == 0 && b == 0 && carry == 0) break;
        }
        return sb.Length == 0 ? "0+0=0" : sb.ToString();
    }

    public Verdict Verify(Problem problem, string answer)
    {
        if (!long.TryParse(answer.Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long value))
            return Verdict.Malformed;
        return value.ToString(CultureInfo.InvariantCulture) == problem.Answer ? Verdict.Correct : Verdict.Wrong;
    }
}
