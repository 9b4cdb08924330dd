// The map screen: to be built (issue 12). Until then it says so.
export default function Screen(_props: { rest: string[] }) {
  return <h1>map</h1>;
}
