using Engine.Rewards;
using Engine.Tasks;

namespace Engine.Tests;

/// <summary>A user reward through the plug-in interface, easy to learn: 1 when the response starts with a digit.</summary>
sealed class StartsWithDigit : IRewardFunction
{
    public string Name => "digit";
    public float Score(Problem problem, string response, ResponseInfo info) => response.Length > 0 && char.IsAsciiDigit(response[0]) ? 1f : 0f;
}
