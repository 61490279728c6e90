using BridgeRec.Bridge.Experiments;

namespace BridgeRec.Tests.Bridge;

public class ReportClaimsTests
{
    [Theory]
    [InlineData(0.0512, "+5.1%")]
    [InlineData(-0.017, "-1.7%")]
    [InlineData(-0.00001, "0.0%")] // printed "-+0.0%" before
    [InlineData(0.00004, "0.0%")]
    [InlineData(double.NaN, "n/a")]
    public void GainsPrintWithOneSignAndOneDecimal(double gain, string expected) => Assert.Equal(expected, ReportClaims.Pct(gain));
}
