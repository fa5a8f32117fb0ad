// An onCall extension whose activation always fails.
export default {
  async activate() {
    throw new Error('activation exploded');
  },
};
